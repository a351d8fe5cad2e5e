"""The local web workbench (`watchdog serve`, issue 15): the record, read-only, in a browser.

app.py holds the pages, guard.py the token, Host check and security headers, data.py what
the pages read (through watchdog/store/record.py and watchdog/stats/), timeline.py the SVG,
server.py the uvicorn server (the verb is watchdog/cli/serve.py).
"""
