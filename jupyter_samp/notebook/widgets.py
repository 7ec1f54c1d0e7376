"""ipywidgets views of the SAMP state: apps panel, target picker, send buttons, log.

Views never own state: each renders a :class:`~jupyter_samp.notebook.model.SampState`
and re-renders when the traits it observes change; actions go through the
:class:`~jupyter_samp.notebook.session.SampSession`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
from traitlets import Unicode

from jupyter_samp.notebook.display import error_line
from jupyter_samp.notebook.icons import Fetcher, IconLoader, fetch_icon
from jupyter_samp.notebook.model import SampState
from jupyter_samp.notebook.render import accepts_summary, log_table, status_line
from jupyter_samp.notebook.session import SampSession


class StatusView(widgets.HTML):
    """One line: connected or not, to which hub, with which applications."""

    def __init__(self, state: SampState, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = state
        state.observe(self._render, names=["connected", "status", "clients", "hub", "route"])
        self._render()

    def _render(self, change: Any = None) -> None:
        self.value = status_line(self.state)._repr_html_()


class AppsPanel(widgets.VBox):
    """The connected applications, one row each: icon, name, id and what they accept.

    Icons are fetched by the kernel (:mod:`jupyter_samp.notebook.icons`) and
    shown from memory; until one has loaded, or when it cannot be, a
    placeholder with the application's initial stands in. Each row is an
    ``HBox`` with the CSS class ``jupyter-samp-app``.

    Parameters
    ----------
    state : SampState
        What to show; the panel follows its ``clients`` and ``icons``.
    fetcher : callable, optional
        How icons are fetched (see :class:`~jupyter_samp.notebook.icons.IconLoader`).
    """

    def __init__(self, state: SampState, fetcher: Fetcher = fetch_icon, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = state
        self._images: dict[str, widgets.Image] = {}
        self.icons = IconLoader(state, fetcher)
        state.observe(self._render, names=["clients", "icons"])
        self._render()

    def _render(self, change: Any = None) -> None:
        rows = [self._row(entry) for entry in self.state.clients if not entry["is_hub"]]
        if not rows:
            rows = [widgets.HTML("<i>No application is connected to the hub.</i>")]
        self.children = tuple(rows)

    def _row(self, entry: dict[str, Any]) -> widgets.HBox:
        row = widgets.HBox([self._icon(entry), widgets.HTML(app_line(entry))],
                           layout={"align_items": "center"})
        row.add_class("jupyter-samp-app")
        return row

    def _icon(self, entry: dict[str, Any]) -> widgets.DOMWidget:
        url = entry["icon_url"]
        icon = self.state.icons.get(url, {}) if url else {}
        if icon.get("status") != "ok":
            return placeholder(entry["name"], icon.get("reason") or icon.get("status") or "")
        image = self._images.get(url)
        if image is None:  # one widget per icon: its bytes go to the browser once
            image = widgets.Image(value=icon["data"], format=icon["format"],
                                  width=ICON_SIZE, height=ICON_SIZE,
                                  layout={"width": f"{ICON_SIZE}px", "height": f"{ICON_SIZE}px"})
            image.add_class("jupyter-samp-icon")
            self._images[url] = image
        return image


ICON_SIZE = 24


def app_line(entry: dict[str, Any]) -> str:
    """Name, id and what the application accepts, as HTML (every MType in the tooltip)."""
    accepts = accepts_summary(entry["subscriptions"])
    if not entry.get("subscriptions_known", True):
        accepts = "(subscriptions pending)"
    every = html.escape(", ".join(entry["subscriptions"]) or "nothing", quote=True)
    return (f"<b>{html.escape(entry['name'])}</b> "
            f"<span style='color:#888'>{html.escape(entry['id'])}</span> "
            f"&mdash; <span title=\"{every}\">accepts {html.escape(accepts)}</span>")


def placeholder(name: str, why: str = "") -> widgets.HTML:
    """A grey square with the application's initial, in place of an icon."""
    initial = html.escape((name[:1] or "?").upper())
    box = widgets.HTML(
        f'<div title="{html.escape(why or "no icon", quote=True)}" style="width:{ICON_SIZE}px;'
        f"height:{ICON_SIZE}px;line-height:{ICON_SIZE}px;border-radius:4px;background:#ccc;"
        f'color:#fff;text-align:center;font-weight:bold">{initial}</div>'
    )
    box.add_class("jupyter-samp-icon-placeholder")
    return box


class TargetPicker(widgets.Dropdown):
    """Pick a recipient among the applications that accept ``mtype``.

    Its ``value`` is a client id, or None for "every application that accepts it".
    """

    mtype = Unicode(help="The MType the picked application must accept.").tag(sync=False)

    def __init__(self, state: SampState, mtype: str, **kwargs: Any) -> None:
        kwargs.setdefault("description", "to")
        super().__init__(**kwargs)
        self.state = state
        self.mtype = mtype
        state.observe(self._render, names="clients")
        self._render()

    def _render(self, change: Any = None) -> None:
        chosen: Any = getattr(self, "value", None)
        apps = self.state.apps_accepting(self.mtype)
        options: list[tuple[str, Any]] = [("every application that accepts it", None)]
        options += [(f"{entry['name']} ({entry['id']})", entry["id"]) for entry in apps]
        self.options = options
        self.value = chosen if chosen in {value for _, value in options} else None


class SendButton(widgets.VBox):
    """A button that sends a table or an image to the picked application.

    Parameters
    ----------
    session : SampSession
        The notebook's connection.
    data : object
        What to send: a DataFrame or Table (``kind="table"``), or an HDU or
        2-D array (``kind="image"``).
    name : str
        The name the receiving application shows.
    """

    def __init__(self, session: SampSession, data: Any, kind: str = "table",
                 name: str = "data", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if kind not in ("table", "image"):
            raise ValueError(f"kind must be 'table' or 'image', not {kind!r}")
        self.session, self.data, self.kind, self.name = session, data, kind, name
        mtype = "table.load.votable" if kind == "table" else "image.load.fits"
        self.picker = TargetPicker(session.state, mtype)
        self.button = widgets.Button(description=f"Send {kind}", icon="paper-plane")
        self.result = widgets.HTML()
        self.result.add_class("jupyter-samp-send-result")
        self.progress = widgets.FloatProgress(min=0.0, max=1.0, layout={"width": "200px",
                                                                        "visibility": "hidden"})
        self.button.on_click(self._on_click)
        self.children = (widgets.HBox([self.picker, self.button, self.progress]), self.result)

    def _on_click(self, button: Any = None) -> None:
        self.result.value = "<i>sending...</i>"
        try:
            if self.kind == "table":
                handle = self.session.send_table(self.data, to=self.picker.value, name=self.name,
                                                 progress=self._show_progress)
                task = handle.delivery
            else:
                task = self.session.send_image(self.data, to=self.picker.value,
                                               name=self.name).delivery
        except Exception as error:
            self.result.value = _error_html(error)
            return
        task.add_done_callback(self._done)

    def _show_progress(self, sent: int, total: int | None) -> None:
        if total:
            self.progress.layout.visibility = "visible"
            self.progress.value = min(1.0, sent / total)

    def _done(self, task: Any) -> None:
        if task.cancelled():
            self.result.value = "<i>cancelled</i>"
        elif task.exception() is not None:
            self.result.value = _error_html(task.exception())
        else:
            receipt = task.result()
            self.result.value = receipt._repr_html_() if hasattr(receipt, "_repr_html_") else (
                html.escape(str(receipt)))


def _error_html(error: BaseException) -> str:
    return f'<span style="color:#b00">{html.escape(error_line(error))}</span>'


class MessageLog(widgets.HTML):
    """The most recent SAMP messages, newest last."""

    def __init__(self, state: SampState, last: int = 20, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state, self.last = state, last
        state.observe(self._render, names="log")
        self._render()

    def _render(self, change: Any = None) -> None:
        self.value = log_table(self.state, self.last)._repr_html_()


def panel(session: SampSession, tables: Mapping[str, Any] | None = None,
          images: Mapping[str, Any] | None = None) -> widgets.VBox:
    """Status, consent dialogs, applications, send buttons and message log in one box.

    Parameters
    ----------
    session : SampSession
        The notebook's connection.
    tables, images : mapping, optional
        Name -> data to offer for sending: each gets a :class:`SendButton`
        (a target picker listing the applications that accept it, and a
        button), under "Send". Nothing is checked here: data that cannot be
        sent says so under its button when clicked.
    """
    state = session.state
    sends = [SendButton(session, data, kind="table", name=name)
             for name, data in (tables or {}).items()]
    sends += [SendButton(session, data, kind="image", name=name)
              for name, data in (images or {}).items()]
    parts: list[widgets.Widget] = [
        StatusView(state),
        session.consent_box,
        widgets.HTML("<b>Applications</b>"),
        AppsPanel(state),
    ]
    if sends:
        parts += [widgets.HTML("<b>Send</b>"), *(_labelled(send) for send in sends)]
    parts += [widgets.HTML("<b>Messages</b>"), MessageLog(state)]
    box = widgets.VBox(parts)
    box.add_class("jupyter-samp-panel")
    return box


def _labelled(send: SendButton) -> widgets.HBox:
    label = widgets.HTML(f"{send.kind} <b>{html.escape(send.name)}</b>",
                         layout={"width": "160px"})
    return widgets.HBox([label, send])


Callback = Callable[..., None]
