"""One module per wire format (ninjs, NewsML-G2, plain JSON) over the field rules they share.

:mod:`pipeline.news.decode` detects which one a message is and dispatches to it.
"""
