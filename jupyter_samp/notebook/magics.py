"""The ``%samp`` line magic: SAMP from a notebook without writing async code.

Load it with ``%load_ext jupyter_samp``; ``%samp --help`` (or ``%samp?``)
shows the help.
"""

from __future__ import annotations

import inspect
import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from jupyter_samp.errors import SampError
from jupyter_samp.notebook.display import DownloadProgress, error_line, show_when_done
from jupyter_samp.notebook.render import apps_table, log_table, status_line
from jupyter_samp.notebook.session import SampSession, connection

COMMANDS = ("status", "connect", "apps", "send", "image", "point", "select", "log", "hub",
            "disconnect")


@magics_class
class SampMagics(Magics):
    """``%samp`` and its subcommands."""

    @line_magic
    @magic_arguments()
    @argument(
        "command", nargs="?", default="status", choices=COMMANDS,
        help="status (default), connect, apps, send VAR, image VAR, point RA DEC, "
        "select VAR, log, hub start|stop, disconnect",
    )
    @argument("args", nargs="*", help="the subcommand's arguments (a variable, RA DEC, ...)")
    @argument("--to", help="the application to send to (name or id), or 'all'; default for a "
              "table: the table viewers (not DS9 or Aladin), for an image: all that accept it")
    @argument("--name", help="the name the table or image gets in the receiving application")
    @argument("--transport", choices=("auto", "file", "http"), default="auto",
              help="send/image: a local file:// for applications here (auto, file) or HTTP")
    @argument("--web", action="store_true",
              help="with connect: let a hub started here serve web pages (asks you each time)")
    @argument("--hub", choices=("auto", "start", "connect", "browser"), default="auto",
              help="connect: a hub on this machine only; start: start one if none runs; "
                   "browser: the hub on the computer running the browser; auto (default): "
                   "each in turn")
    def samp(self, line: str) -> Any:
        """Talk to TOPCAT, DS9 and other SAMP applications.

        Examples::

            %samp connect            # join the running hub, or start one
            %samp apps               # who is connected and what they accept
            %samp send df --to topcat --name stars
            %samp image hdu --to ds9
            %samp point 83.82 -5.39
            %samp select df          # the rows selected in TOPCAT, as a DataFrame
            %samp log                # recent messages
            %samp disconnect
        """
        args = self._parse(line)
        if args is None:
            return None
        session = connection()
        try:
            return getattr(self, f"_do_{args.command}")(session, args)
        except (SampError, ValueError, LookupError) as error:
            raise UsageError(error_line(error)) from None

    def _parse(self, line: str) -> Any:
        """The parsed arguments, or None after printing the help (``-h``, ``--help``).

        Quoting is a shell's, as in IPython's own magics: ``--name "my nice
        table"`` gives the name without its quotes.

        Raises
        ------
        UsageError
            For unbalanced quotes or arguments the magic does not take.
        """
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%samp: {exc} in {line!r}") from None
        if "-h" in argv or "--help" in argv:
            print(inspect.cleandoc(self.samp.__doc__ or ""))
            return None
        return self.samp.parser.parse_args(argv)

    # ------------------------------------------------------------ subcommands

    def _do_status(self, session: SampSession, args: Any) -> Any:
        return status_line(session.state)

    def _do_connect(self, session: SampSession, args: Any) -> None:
        task = session.connect(hub=args.hub, web=args.web)
        show_when_done(task, "connecting to SAMP...", lambda client: status_line(session.state))

    def _do_disconnect(self, session: SampSession, args: Any) -> None:
        show_when_done(session.disconnect(), "disconnecting...",
                       lambda _: status_line(session.state))

    def _do_apps(self, session: SampSession, args: Any) -> Any:
        session.require()
        return apps_table(session.state)

    def _do_log(self, session: SampSession, args: Any) -> Any:
        return log_table(session.state)

    def _do_point(self, session: SampSession, args: Any) -> None:
        if len(args.args) != 2:
            raise UsageError("usage: %samp point RA DEC (degrees)")
        try:
            ra, dec = (float(value) for value in args.args)
        except ValueError:
            raise UsageError(f"RA and DEC must be numbers in degrees, got {args.args}") from None
        task = session.point_at(ra, dec, to=args.to)
        show_when_done(task, f"pointing at {ra:g}, {dec:g}...",
                       lambda sent: status_note(f"pointed {_who(session, sent, args.to)} "
                                                f"at RA {ra:g}, Dec {dec:g}"))

    def _do_send(self, session: SampSession, args: Any) -> Any:
        data = self._variable(args)
        handle = session.send_table(data, to=args.to, name=args.name or args.args[0],
                                    transport=args.transport)
        self._show_delivery(session, handle, f"sending {args.args[0]}")
        return None

    def _do_image(self, session: SampSession, args: Any) -> Any:
        data = self._variable(args)
        handle = session.send_image(data, to=args.to, name=args.name or args.args[0],
                                    transport=args.transport)
        self._show_delivery(session, handle, f"sending image {args.args[0]}")
        return None

    def _show_delivery(self, session: SampSession, handle: Any, what: str) -> None:
        """A line that shows the download's progress, then the receipt."""
        placeholder = show_when_done(handle.delivery, f"{what}...")
        session.follow_progress(handle, DownloadProgress(placeholder, what))

    def _do_select(self, session: SampSession, args: Any) -> Any:
        data = self._variable(args)
        return session.selection_of(data)

    def _do_hub(self, session: SampSession, args: Any) -> None:
        if args.args not in (["start"], ["stop"]):
            raise UsageError("usage: %samp hub start|stop")
        if args.args == ["start"]:
            task = session.connect(hub="start")
            show_when_done(task, "starting a hub...", lambda _: status_line(session.state))
        else:
            show_when_done(session.disconnect(stop_hub=True), "stopping the hub...",
                           lambda _: status_line(session.state))

    def _variable(self, args: Any) -> Any:
        if len(args.args) != 1:
            raise UsageError(f"usage: %samp {args.command} VARIABLE [--to APP] [--name NAME]")
        name = args.args[0]
        namespace: dict[str, Any] = self.shell.user_ns if self.shell is not None else {}
        if name not in namespace:
            raise UsageError(f"SAMP: no variable named {name!r} in this notebook")
        return namespace[name]


def _who(session: SampSession, sent: Any, to: str | None) -> str:
    if to is not None:
        return to
    names = {entry["id"]: entry["name"] for entry in session.state.clients}
    recipients = [names.get(ident, ident) for ident in (sent or [])]
    return ", ".join(recipients) if recipients else "nobody (no application accepts it)"


def status_note(text: str) -> Any:
    """A short confirmation line."""
    from IPython.display import HTML

    return HTML(f'<span style="color:#060">{text}</span>')
