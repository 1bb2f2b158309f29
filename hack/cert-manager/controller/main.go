// Command controller is podplane's build of the cert-manager controller for the
// local management cluster. cert-manager's own command modules are not served
// by the Go module proxy this project builds from, so this small main wires the
// controller packages of the cert-manager root module: the controllers that
// Cluster API needs (Issuers and ClusterIssuers of the SelfSigned and CA
// types, the Certificate controllers, CertificateRequest approval and
// signing). There is no ACME, Vault or Venafi, and no cert-manager webhook.
//
// hack/build.sh copies this file into a generated module that requires
// github.com/cert-manager/cert-manager at CERT_MANAGER_VERSION.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"

	// Each package registers its controller in controller.Known() from init().
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/metrics"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// Issuer types the issuers controllers can set up.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

type options struct {
	kubeconfig        string
	namespace         string
	leaderNamespace   string
	leaderElect       bool
	leaseDuration     time.Duration
	renewDeadline     time.Duration
	retryPeriod       time.Duration
	workers           int
	controllers       string
	healthzAddress    string
	qps               float64
	burst             int
	enableOwnerRef    bool
	minRequestBackoff time.Duration
	maxRequestBackoff time.Duration
}

func main() {
	var o options
	fs := flag.CommandLine
	klog.InitFlags(fs)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file; in-cluster config when empty")
	fs.StringVar(&o.namespace, "cluster-resource-namespace", os.Getenv("POD_NAMESPACE"),
		"namespace of the Secrets that ClusterIssuers refer to")
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "run the controllers only while holding the leader Lease")
	fs.StringVar(&o.leaderNamespace, "leader-election-namespace", "",
		"namespace of the leader Lease (default: the cluster resource namespace)")
	fs.DurationVar(&o.leaseDuration, "leader-election-lease-duration", 60*time.Second, "leader Lease duration")
	fs.DurationVar(&o.renewDeadline, "leader-election-renew-deadline", 40*time.Second, "leader renew deadline")
	fs.DurationVar(&o.retryPeriod, "leader-election-retry-period", 15*time.Second, "leader retry period")
	fs.IntVar(&o.workers, "concurrent-workers", 5, "workers per controller")
	fs.StringVar(&o.controllers, "controllers", "*", "comma-separated controllers to run, * for every one built in")
	fs.StringVar(&o.healthzAddress, "healthz-address", ":9403", "address of /livez and /readyz; empty to disable")
	fs.Float64Var(&o.qps, "kube-api-qps", 20, "client QPS when API Priority and Fairness is off")
	fs.IntVar(&o.burst, "kube-api-burst", 50, "client burst when API Priority and Fairness is off")
	fs.BoolVar(&o.enableOwnerRef, "enable-certificate-owner-ref", false, "make each Certificate the owner of its Secret")
	fs.DurationVar(&o.minRequestBackoff, "certificate-request-minimum-backoff-duration", time.Hour,
		"first backoff after a failed CertificateRequest")
	fs.DurationVar(&o.maxRequestBackoff, "certificate-request-maximum-backoff-duration", 32*time.Hour,
		"longest backoff after failed CertificateRequests")
	version := fs.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *version {
		fmt.Printf("%#v\n", util.VersionInfo())
		return
	}
	logf.InitLogs()
	defer logf.FlushLogs()

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	ctx = logf.NewContext(ctx, logf.Log, "controller")
	if err := run(ctx, o); err != nil && ctx.Err() == nil {
		logf.Log.Error(err, "cert-manager controller failed")
		logf.FlushLogs()
		os.Exit(1)
	}
}

// enabled: the names from --controllers, each checked against the registry.
func enabled(spec string) ([]string, error) {
	known := controller.Known()
	var names []string
	if spec == "*" {
		for name := range known {
			names = append(names, name)
		}
	} else {
		for _, name := range strings.Split(spec, ",") {
			name = strings.TrimSpace(name)
			if _, ok := known[name]; !ok {
				return nil, fmt.Errorf("controller %q is not built in", name)
			}
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

func run(ctx context.Context, o options) error {
	if o.namespace == "" {
		return errors.New("--cluster-resource-namespace (or POD_NAMESPACE) is required")
	}
	names, err := enabled(o.controllers)
	if err != nil {
		return err
	}
	logf.FromContext(ctx).Info("starting cert-manager controller", "version", util.AppVersion, "controllers", names)
	if o.healthzAddress != "" {
		go serveHealthz(ctx, o.healthzAddress)
	}
	if !o.leaderElect {
		return runControllers(ctx, o, names)
	}
	return withLeaderLease(ctx, o, func(ctx context.Context) error { return runControllers(ctx, o, names) })
}

// runControllers builds every controller on one ContextFactory (shared
// informers), starts the informers they asked for, and runs them until ctx ends.
func runControllers(ctx context.Context, o options, names []string) error {
	log := logf.FromContext(ctx)
	factory, err := controller.NewContextFactory(ctx, controller.ContextOptions{
		Kubeconfig:         o.kubeconfig,
		KubernetesAPIQPS:   float32(o.qps),
		KubernetesAPIBurst: o.burst,
		IssuerOptions: controller.IssuerOptions{
			ClusterResourceNamespace: o.namespace,
		},
		CertificateOptions: controller.CertificateOptions{
			EnableOwnerRef:                           o.enableOwnerRef,
			CertificateRequestMinimumBackoffDuration: o.minRequestBackoff,
			CertificateRequestMaximumBackoffDuration: o.maxRequestBackoff,
		},
	})
	if err != nil {
		return fmt.Errorf("controller context: %w", err)
	}
	runners := make(map[string]controller.Interface, len(names))
	for _, name := range names {
		c, err := controller.Known()[name](factory)
		if err != nil {
			return fmt.Errorf("building controller %s: %w", name, err)
		}
		runners[name] = c
	}
	// Informer factories start only the informers requested so far, so start
	// them after every controller registered its own.
	shared, err := factory.Build("informers")
	if err != nil {
		return err
	}
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.SharedInformerFactory.Start(ctx.Done())
	shared.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	if shared.GatewaySolverEnabled {
		shared.GWShared.Start(ctx.Done())
	}

	// The first controller that fails stops the others.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for name, c := range runners {
		log.Info("starting controller", "controller", name)
		wg.Go(func() {
			if err := c.Run(o.workers, ctx); err != nil {
				cancel(fmt.Errorf("controller %s: %w", name, err))
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// withLeaderLease runs fn while this process holds the Lease
// cert-manager-controller; losing it ends the process.
func withLeaderLease(ctx context.Context, o options, fn func(context.Context) error) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(util.RestConfigWithUserAgent(cfg, "leader-election"))
	if err != nil {
		return err
	}
	id, err := os.Hostname()
	if err != nil {
		return err
	}
	namespace := o.leaderNamespace
	if namespace == "" {
		namespace = o.namespace
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, namespace, "cert-manager-controller",
		client.CoreV1(), client.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		return err
	}
	leCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	leaderelection.RunOrDie(leCtx, leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   o.leaseDuration,
		RenewDeadline:   o.renewDeadline,
		RetryPeriod:     o.retryPeriod,
		ReleaseOnCancel: true,
		Name:            "cert-manager-controller",
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				done <- fn(ctx)
				stop() // give the Lease up when the controllers end
			},
			OnStoppedLeading: func() {},
		},
	})
	select {
	case err := <-done:
		if err == nil {
			err = errors.New("controllers stopped")
		}
		return err
	default:
		return errors.New("leader Lease lost")
	}
}

func serveHealthz(ctx context.Context, addr string) {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }
	mux.HandleFunc("/livez", ok)
	mux.HandleFunc("/readyz", ok)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logf.Log.Error(err, "healthz server failed")
	}
}
