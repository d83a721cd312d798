"""The live view (`pipeline-tests run --live`): a page on 127.0.0.1 fed by the run's typed
events, the same events the CLI's progress bars get.

probe.py samples a running trial into those events (TrialProgress's hop counts, SinkSeen);
state.py folds events into the page's state; server.py serves it (aiohttp, server-sent events);
page.py renders the HTML (and the table a browser without JavaScript gets); static/ holds the
page's HTML, JavaScript and CSS; session.py wires it into the CLI (fan-out, linger, sink mode).
aiohttp is imported by server.py only, so importing this package costs nothing.
"""
