// Command registry serves the OCI distribution registry of github.com/google/go-containerregistry
// (pkg/registry, the registry `crane registry serve` runs) over TLS with HTTP basic auth, for the
// integration tests of charts pulled from OCI registries.  Blobs are kept on disk (-disk),
// manifests in memory: stopping the process is a registry outage, and a restart an empty registry.
//
// usage: registry -addr 127.0.0.1:0 -cert server.crt -key server.key -htpasswd user:password \
//
//	-disk DIR -port-file FILE [-referrers] [-log FILE]
//
// A request without the right credentials gets 401 with a Basic challenge, as a registry behind
// htpasswd auth answers (helm and other ORAS clients then retry with the credentials).
package main

import (
	"crypto/subtle"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	cert := flag.String("cert", "", "TLS certificate (PEM)")
	key := flag.String("key", "", "TLS private key (PEM)")
	htpasswd := flag.String("htpasswd", "", "user:password that may push and pull (empty: no auth)")
	disk := flag.String("disk", "", "folder for blobs (empty: memory)")
	portFile := flag.String("port-file", "", "write the port here once listening")
	referrers := flag.Bool("referrers", false, "answer the OCI 1.1 referrers API (off: clients fall back to the sha256-<hex> tag)")
	flag.Parse()

	var blobs registry.BlobHandler = registry.NewInMemoryBlobHandler()
	if *disk != "" {
		if err := os.MkdirAll(*disk, 0o700); err != nil {
			log.Fatal(err)
		}
		blobs = registry.NewDiskBlobHandler(*disk)
	}
	var requests atomic.Int64
	inner := registry.New(registry.WithBlobHandler(blobs), registry.WithReferrersSupport(*referrers),
		registry.Logger(log.New(os.Stderr, "", log.LstdFlags)))
	user, password, _ := strings.Cut(*htpasswd, ":")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if *htpasswd != "" {
			u, p, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 ||
				subtle.ConstantTimeCompare([]byte(p), []byte(password)) != 1 {
				w.Header().Set("Www-Authenticate", `Basic realm="gitops-core-test-registry"`)
				w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		inner.ServeHTTP(w, r)
	})
	mux := http.NewServeMux()
	// how many requests the registry has answered: a test proves a cached render asked nothing
	mux.HandleFunc("/_test/requests", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d\n", requests.Load())
	})
	mux.Handle("/", handler)

	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	port := listener.Addr().(*net.TCPAddr).Port
	if *portFile != "" {
		if err := os.WriteFile(*portFile+".tmp", []byte(fmt.Sprintf("%d\n", port)), 0o644); err != nil {
			log.Fatal(err)
		}
		if err := os.Rename(*portFile+".tmp", *portFile); err != nil {
			log.Fatal(err)
		}
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("serving on %s", listener.Addr())
	if *cert != "" {
		err = server.ServeTLS(listener, *cert, *key)
	} else {
		err = server.Serve(listener)
	}
	log.Fatal(err)
}
