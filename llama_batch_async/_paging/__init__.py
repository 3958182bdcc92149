"""One walk, in flow order: query, cursor, walk (pure), prefetch, pager, ``created_at`` windows.

Built on the request layer (``_http``); it never imports the waits (``_polling``).
"""
