"""The Standard Profile: ``samp.hub.*`` over XML-RPC, callbacks to ``samp.client.*``."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

from jupyter_samp.errors import InvalidRequestError, RegistrationRefusedError
from jupyter_samp.hub.service import HubService, check_arguments
from jupyter_samp.hub.traffic import log_traffic
from jupyter_samp.hub.xmlrpc_delivery import XmlRpcDeliverer
from jupyter_samp.transport.rpcserver import DEFAULT_MAX_BODY

log = logging.getLogger("jupyter_samp.hub")

PREFIX = "samp.hub."
PROFILE = "standard"


class StandardProfile:
    """Serves ``samp.hub.*`` calls for desktop clients that know the hub's secret.

    Parameters
    ----------
    service : HubService
        The hub's router on the event loop.
    secret : str
        The ``samp.secret`` written to the lockfile.
    client_timeout : float
        Seconds a client may take to accept a callback.
    max_body : int
        Largest request body accepted, in bytes.
    """

    def __init__(
        self,
        service: HubService,
        secret: str,
        *,
        client_timeout: float = 30.0,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.service = service
        self.max_body = max_body
        #: Set when the hub starts shutting down: registrations are refused from then on.
        self.closing = False
        self._secret = secret
        self.deliverer = XmlRpcDeliverer(service.delivery_failed, timeout=client_timeout)
        service.deliverers[PROFILE] = self.deliverer

    def handle_call(self, method: str, params: list[Any]) -> Any:
        """Run one ``samp.hub.*`` call.

        Returns
        -------
        object
            The result, or for ``callAndWait`` an awaitable of it.

        Raises
        ------
        HubFault
            For unknown methods, bad arguments, bad keys and every refusal.
        """
        if not method.startswith(PREFIX):
            raise InvalidRequestError(
                f"Unknown method {method!r}: hub methods start with samp.hub."
            )
        name = method[len(PREFIX) :]
        if name == "ping":
            return self._ping(params)
        if name == "register":
            return self._register(params)
        if name == "setXmlrpcCallback":
            return self._set_callback(params)
        result = self.service.begin_call(PROFILE, name, params)
        if name == "callAndWait":
            return self._log_when_answered(params, result)
        log_traffic(self.service.router, name, params, result)
        return result

    async def _log_when_answered(self, params: list[Any], pending: Awaitable[Any]) -> Any:
        log_traffic(self.service.router, "callAndWait", params, None)
        return await pending

    def _ping(self, params: list[Any]) -> str:
        if len(params) > 1:
            check_arguments(PROFILE, "ping", "", params)
        return ""

    def _register(self, params: list[Any]) -> dict[str, str]:
        check_arguments(PROFILE, "register", "s", params)
        if not hmac.compare_digest(params[0].encode(), self._secret.encode()):
            raise RegistrationRefusedError("Bad secret: registration refused")
        if self.closing:
            raise RegistrationRefusedError("The hub is shutting down: registration refused")
        return self.service.register(PROFILE)

    def _set_callback(self, params: list[Any]) -> str:
        check_arguments(PROFILE, "setXmlrpcCallback", "ss", params)
        key, url = params
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise InvalidRequestError(f"Bad callback URL {url!r}: an http URL is required")
        self.service.run(lambda router: router.set_callback(key, url))
        return ""
