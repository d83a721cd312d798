"""The sink: the destination pipeline-tests owns. A Forward-protocol server (TCP, unix socket)
and an HTTP input that record every line they receive into a ledger.

sink.py starts and stops the worker processes, worker.py is one worker's event loop, http.py its
HTTP input, config.py the settings.
"""

from pipeline_tests._sink.config import SinkConfig
from pipeline_tests._sink.sink import Sink, SinkStats, serve_forever
from pipeline_tests._sink.worker import STAT_FIELDS, lines_of

__all__ = ["STAT_FIELDS", "Sink", "SinkConfig", "SinkStats", "lines_of", "serve_forever"]
