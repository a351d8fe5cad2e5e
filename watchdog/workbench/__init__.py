"""The local web workbench (`watchdog serve`, issue 15): the record, read-only, in a browser.

app.py holds the pages, guard.py the token, Host check and security headers, data.py what
the pages read (through watchdog/record.py and watchdog/stats/), timeline.py the SVG,
serve.py the command.
"""
