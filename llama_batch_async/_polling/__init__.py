"""The waits: one poller (deadline, back-off, grace), then what each wait polls.

Built on the request layer (``_http``); it never imports the walk (``_paging``).
"""
