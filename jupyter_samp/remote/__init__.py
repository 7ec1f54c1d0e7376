"""SAMP for kernels that run away from the desktop, through the user's browser.

A kernel on a server (JupyterHub, a science platform) can neither read the
desktop's lockfile nor reach its hub, and the desktop applications cannot
reach the kernel. The browser sees both sides. The route has three parts:

* :mod:`~jupyter_samp.remote.relay`: in the kernel, a websocket endpoint on
  127.0.0.1 that carries hub calls out and callbacks in, as JSON;
* the front end (``static/relay.js``, an anywidget module): it registers with
  the desktop hub's Web Profile from the page and relays both ways between
  the hub and the kernel, through the Jupyter server;
* :mod:`jupyter_samp.serverext`: the Jupyter server extension that joins the
  page's websocket to the kernel's, and serves the kernel's published data at
  capability URLs under the server's public address, so that TOPCAT and DS9
  can download tables and images.

Kernel and server find each other through small registration files
(:mod:`~jupyter_samp.remote.registry`).
"""
