// Command kcp is a multi-call binary holding a real Kubernetes control plane, compiled from
// Kubernetes' own Go modules: etcd (embedded), kube-apiserver, kube-controller-manager and
// kube-scheduler.  Each component runs as its own process (`kcp <component> [flags]`), because
// flags, metrics registries and klog are process-global.  tests/cluster/cluster.py starts them.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	_ "time/tzdata" // CronJob time zones, as upstream's mains

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as upstream
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

var components = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kcp etcd|kube-apiserver|kube-controller-manager|kube-scheduler [flags]")
	os.Exit(2)
}

func main() {
	// Called as `kcp <component> args...`, or with argv[0] set to the component name (as the
	// launcher does): client-go derives the user agent, and so the field manager that appears in
	// managedFields, from argv[0], so controllers must not all be called "kcp".
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if _, ok := components[name]; !ok && name != "etcd" {
		if len(os.Args) < 2 {
			usage()
		}
		name, args = os.Args[1], os.Args[2:]
	}
	if name == "etcd" {
		os.Exit(runEtcd(args))
	}
	newCommand, ok := components[name]
	if !ok {
		usage()
	}
	cmd := newCommand()
	cmd.SetArgs(args)
	os.Exit(cli.Run(cmd))
}
