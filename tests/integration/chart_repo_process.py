"""A classic Helm chart repository over HTTPS, as a process of its own: static files (index.yaml,
archives, .prov) behind basic auth; each request is logged as one JSON line (path, status, whether
an Authorization header came) so a test can see which host was given credentials.

usage: python chart_repo_process.py ROOT USER PASSWORD CERT KEY PORT_FILE LOG [PORT]"""
import base64
import json
import os
import ssl
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

ROOT, USER, PASSWORD, CERT, KEY, PORT_FILE, LOG = sys.argv[1:8]
PORT = int(sys.argv[8]) if len(sys.argv) > 8 else 0
LOCK = threading.Lock()
# files under public/ are served without credentials (another host's storage, reached by a redirect)
PUBLIC = "/public/"


class Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=ROOT, **kwargs)

    def log_message(self, *args):
        pass

    def _log(self, status):
        with LOCK, open(LOG, "a") as fh:
            fh.write(json.dumps({"path": self.path, "host": self.headers.get("Host"), "status": status,
                                 "authorization": "Authorization" in self.headers}) + "\n")

    def do_GET(self):
        want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.path.startswith("/redirect/"):  # a redirect to the same files on another host name
            self._log(302)
            self.send_response(302)
            target = self.path[len("/redirect/"):]
            self.send_header("Location", "https://localhost:%d/public/%s" % (self.server.server_address[1], target))
            self.end_headers()
            return
        if not self.path.startswith(PUBLIC) and self.headers.get("Authorization") != want:
            self._log(401)
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="charts"')
            self.end_headers()
            return
        served = self.path[len(PUBLIC) - 1:] if self.path.startswith(PUBLIC) else self.path
        self._log(200 if os.path.isfile(os.path.join(ROOT, served.lstrip("/").split("?")[0])) else 404)
        self.path = served
        super().do_GET()


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(CERT, KEY)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(PORT_FILE + ".tmp", "w") as fh:
    fh.write(str(server.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
