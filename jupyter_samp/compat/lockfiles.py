"""Finding the running hub the way astropy.samp clients do: ``SAMP_HUB``, else ``~/.samp``."""

from __future__ import annotations

from jupyter_samp.compat.errors import SAMPHubError
from jupyter_samp.errors import HubUnavailableError
from jupyter_samp.lockfile import lockfile_url, read_lockurl


def running_hub_params() -> dict[str, str]:
    """The lockfile entries of the hub clients should use.

    Raises
    ------
    SAMPHubError
        If there is no readable lockfile with a secret and a URL.
    """
    try:
        return read_lockurl(lockfile_url())
    except HubUnavailableError as exc:
        raise SAMPHubError(f"Unable to find a running SAMP Hub ({exc})") from None
