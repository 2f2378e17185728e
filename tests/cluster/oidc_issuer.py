"""The local control plane's OpenID Connect issuer: serves, over HTTPS, the discovery document
and the JSON Web Key Set that the API server's JWT authenticator (structured authentication
configuration) fetches to verify id-tokens.  Tests sign id-tokens with the matching private key
(.cluster/pki/oidc-signing.key).  Standard library only.

usage: oidc_issuer.py PORT CERT KEY JWKS_JSON
"""
from __future__ import annotations

import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main() -> None:
    port, cert, key, jwks = int(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4]).read_bytes()
    issuer = f"https://127.0.0.1:{port}"
    discovery = json.dumps({"issuer": issuer, "jwks_uri": issuer + "/jwks", "response_types_supported": ["id_token"],
                            "subject_types_supported": ["public"],
                            "id_token_signing_alg_values_supported": ["RS256"]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = {"/.well-known/openid-configuration": discovery, "/jwks": jwks}.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, fmt: str, *args) -> None:
            sys.stderr.write("%s\n" % (fmt % args))

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
