"""The test git HTTP server (gitfixtures.GitHttpServer) as a process of its own, so a test can stop
(SIGSTOP: the network stalls), continue or kill it (the remote disappears) like a real server.

usage: python git_http_process.py ROOT USER TOKEN [PORT]   (prints the port, then serves)"""
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from gitfixtures import GitHttpServer  # noqa: E402

if __name__ == "__main__":
    server = GitHttpServer(Path(sys.argv[1]), sys.argv[2], sys.argv[3], port=int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    print(server.httpd.server_address[1], flush=True)
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
