"""The public DNS the local cloud sees: TXT records published by the harness or a test.

AWS verifies an endpoint service's private DNS name by looking up a TXT record in public DNS.
The local cloud has no public DNS, so whoever plays the domain owner publishes the record here
(the way it would add it at its DNS provider), and StartVpcEndpointServicePrivateDnsVerification
looks it up. ``POST /_jerp/public-dns`` with ``{"name": "_abc.example.com", "type": "TXT",
"values": ["vpce:..."]}`` publishes (replacing that name's values); ``DELETE`` with
``{"name": ...}`` withdraws; ``GET`` lists everything as ``{"records": [...]}``.
"""

from __future__ import annotations

import json
import threading

from localstack.http import Request, Response
from localstack.runtime import hooks

ROUTE = "/_jerp/public-dns"

_lock = threading.Lock()
_txt: dict[str, tuple[str, ...]] = {}


def _key(name: str) -> str:
    return name.strip().rstrip(".").lower()


def txt_values(name: str) -> tuple[str, ...]:
    with _lock:
        return _txt.get(_key(name), ())


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")


def handle(request: Request) -> Response:
    if request.method == "GET":
        with _lock:
            records = [
                {"name": name, "type": "TXT", "values": list(values)}
                for name, values in sorted(_txt.items())
            ]
        return _json({"records": records})
    try:
        body = json.loads(request.get_data() or b"{}")
        name = _key(str(body["name"]))
        if not name:
            raise ValueError("name is empty")
        if request.method == "DELETE":
            with _lock:
                removed = _txt.pop(name, None) is not None
            return _json({"removed": removed})
        if str(body.get("type", "TXT")).upper() != "TXT":
            return _json({"error": "only TXT records are kept (type must be TXT)"}, 400)
        values = tuple(str(v) for v in body["values"])
    except (ValueError, KeyError, TypeError) as exc:
        return _json({"error": f"expected {{name, type: TXT, values: [...]}}: {exc}"}, 400)
    with _lock:
        _txt[name] = values
    return _json({"name": name, "values": list(values)})


@hooks.on_infra_start()
def register_public_dns_route() -> None:
    from localstack.services.edge import ROUTER

    ROUTER.add(path=ROUTE, endpoint=handle, methods=["GET", "POST", "DELETE"])
