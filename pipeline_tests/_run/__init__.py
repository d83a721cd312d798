"""A run: its checks, its plan of trials, one worker per engine, and results.json.

    run.py      the flow: check everything, plan the trials, run them, write results
    workers.py  the run's engines (each checked and given its images) and one worker each
"""
