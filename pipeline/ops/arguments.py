"""Argument types and option groups shared by the ``newswire`` subcommands: defined once, used by every parser."""
from __future__ import annotations

import argparse
import os

from pipeline.io.lake.location import LakeLocation, lake_location


def non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError("must be a TCP port (1-65535)")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def lake_location_arg(text: str) -> LakeLocation:
    """A local folder, or an s3:// / gs:// URI (validated here so a typo fails before the job starts)."""
    try:
        return lake_location(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def absolute_path(text: str) -> str:
    """Absolute, so that Beam workers with another working directory find the same file."""
    return os.path.abspath(text)


def default_ner_processes() -> int:
    """One NER process per core (DirectRunner runs the graph in one process), capped for memory."""
    return max(1, min(os.cpu_count() or 1, 4))


def add_kafka_security_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kafka-config",
        type=absolute_path,
        default=None,
        help="file of NEWSWIRE_KAFKA_* settings (SASL, TLS); see README, Security",
    )
    parser.add_argument(
        "--allow-plaintext",
        action="store_true",
        help="allow an unencrypted (PLAINTEXT, SASL_PLAINTEXT) connection to a non-loopback broker",
    )
