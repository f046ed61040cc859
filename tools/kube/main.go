// Command kube is one binary holding the parts of a Kubernetes control plane
// that nb2svc's tests run: the API server, the controller manager, the
// scheduler, etcd and kubectl, each built from its upstream Go module.
// One binary shares the compile of the packages they have in common.
//
//	kube apiserver [flags]           kube-apiserver
//	kube controller-manager [flags]  kube-controller-manager
//	kube scheduler [flags]           kube-scheduler
//	kube etcd [flags]                etcd
//	kube kubectl [args]              kubectl
//	kube kwok [flags]                kwok (nodes and kubelets stood in)
//	kube version                     the versions built in
//
// Invoked through a link named after a part (kubectl, kube-apiserver, etcd,
// ...), it runs that part, busybox-style. See tests/cluster/README.md.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	_ "time/tzdata" // for timeZone support in CronJob

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.etcd.io/etcd/api/v3/version"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"          // for JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // load all the prometheus client-go plugins
	_ "k8s.io/component-base/metrics/prometheus/version"  // for version metric registration
	kubeversion "k8s.io/component-base/version"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kwokconfig "sigs.k8s.io/kwok/pkg/config"
	kwokcmd "sigs.k8s.io/kwok/pkg/kwok/cmd"
	kwoklog "sigs.k8s.io/kwok/pkg/log"
	kwoksignals "sigs.k8s.io/kwok/pkg/utils/signals"
)

var aliases = map[string]string{
	"kube-apiserver":          "apiserver",
	"kube-controller-manager": "controller-manager",
	"kube-scheduler":          "scheduler",
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kube {apiserver|controller-manager|scheduler|etcd|kubectl|kwok|version} [args...]")
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if name == "kube" || strings.HasPrefix(name, "kube.") {
		if len(args) == 0 {
			usage()
			os.Exit(2)
		}
		name, args = args[0], args[1:]
	}
	if alias, ok := aliases[name]; ok {
		name = alias
	}
	os.Exit(run(name, args))
}

func runCobra(command *cobra.Command, args []string) int {
	command.SetArgs(args)
	return cli.Run(command)
}

func run(name string, args []string) int {
	switch name {
	case "apiserver":
		return runCobra(apiserver.NewAPIServerCommand(), args)
	case "controller-manager":
		return runCobra(controllermanager.NewControllerManagerCommand(), args)
	case "scheduler":
		return runCobra(scheduler.NewSchedulerCommand(), args)
	case "etcd":
		etcdmain.Main(append([]string{"etcd"}, args...))
		return 0
	case "kubectl":
		// As cmd/kubectl does: set the verbosity before the command is built.
		argv := append([]string{"kubectl"}, args...)
		logs.GlogSetter(kubectlcmd.GetLogVerbosity(argv)) // nolint:errcheck
		os.Args = argv
		command := kubectlcmd.NewDefaultKubectlCommand()
		command.SetArgs(args)
		if err := cli.RunNoErrOutput(command); err != nil {
			kubectlutil.CheckErr(err)
		}
		return 0
	case "kwok":
		return runKwok(args)
	case "version", "--version":
		fmt.Printf("kubernetes %s\netcd %s\n", kubeversion.Get().GitVersion, version.Version)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "kube: unknown part %q\n", name)
		usage()
		return 2
	}
}

// runKwok does what kwok's own main does: global flags (logging, --config)
// first, then the kwok command with them attached.
func runKwok(args []string) int {
	flagset := pflag.NewFlagSet("global", pflag.ContinueOnError)
	flagset.ParseErrorsAllowlist.UnknownFlags = true
	flagset.Usage = func() {}
	os.Args = append([]string{"kwok"}, args...)
	ctx := kwoksignals.SetupSignalContext()
	ctx, logger := kwoklog.InitFlags(ctx, flagset)
	ctx, err := kwokconfig.InitFlags(ctx, flagset)
	if err != nil {
		fmt.Fprint(os.Stderr, flagset.FlagUsages())
		logger.Error("kwok: reading its config flags", "err", err)
		return 1
	}
	command := kwokcmd.NewCommand(ctx)
	// In one binary with the Kubernetes components, `--version` is component-base's
	// version-typed flag, which cobra's own bool --version handling cannot read.
	command.Version = ""
	command.PersistentFlags().AddFlagSet(flagset)
	command.SetArgs(args)
	if err := command.ExecuteContext(ctx); err != nil {
		logger.Error("kwok: exited", "err", err)
		return 1
	}
	return 0
}
