"""The substitute channel check (issue 18 item 4): the prefecture pages a target's
configuration lists (`substitute_pages`) are fetched once, politely, and read for a way in
for people who cannot book online — a contact form, an e-mail address, a postal address, a
telephone number — recognised conservatively from the page text (recognise.py)."""
