"""The scenario: what to run. model.py holds its parts, scenario.py the whole and its checks,
matrix.py the expansion into cells, load.py the YAML reader."""
