// Command cainjector is podplane's build of the cert-manager CA injector for
// the local management cluster (cert-manager's command modules are not served
// by the Go module proxy this project builds from). It runs the injectors of
// the cert-manager root module on a controller-runtime manager: CA bundles
// from the Secret or Certificate named in a cert-manager.io/inject-ca-from*
// annotation go into webhook configurations, CRD conversion webhooks and
// APIServices, which is how Cluster API's webhooks get their caBundle.
//
// hack/build.sh copies this file into a generated module that requires
// github.com/cert-manager/cert-manager at CERT_MANAGER_VERSION.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"
)

func main() {
	var (
		leaderNamespace, healthzAddr, metricsAddr, namespace string
		leaderElect, fromCertificates                        bool
		leaseDuration, renewDeadline, retryPeriod            time.Duration
	)
	fs := flag.CommandLine
	klog.InitFlags(fs)
	// --kubeconfig is controller-runtime's own flag (ctrl.GetConfig reads it).
	fs.StringVar(&namespace, "namespace", "", "inject only into objects of this namespace (empty: all)")
	fs.BoolVar(&leaderElect, "leader-elect", true, "inject only while holding the leader Lease")
	fs.StringVar(&leaderNamespace, "leader-election-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the leader Lease")
	fs.DurationVar(&leaseDuration, "leader-election-lease-duration", 60*time.Second, "leader Lease duration")
	fs.DurationVar(&renewDeadline, "leader-election-renew-deadline", 40*time.Second, "leader renew deadline")
	fs.DurationVar(&retryPeriod, "leader-election-retry-period", 15*time.Second, "leader retry period")
	fs.BoolVar(&fromCertificates, "enable-certificates-data-source", true,
		"honour cert-manager.io/inject-ca-from (a Certificate), not only inject-ca-from-secret")
	fs.StringVar(&healthzAddr, "healthz-address", ":9443", "address of /livez and /readyz; 0 to disable")
	fs.StringVar(&metricsAddr, "metrics-address", "0", "address of /metrics; 0 to disable")
	version := fs.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *version {
		fmt.Printf("%#v\n", util.VersionInfo())
		return
	}
	logf.InitLogs()
	defer logf.FlushLogs()
	ctrl.SetLogger(logf.Log)
	log := logf.Log.WithName("cainjector")

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	utilruntime.Must(apiregistrationv1.AddToScheme(scheme))
	utilruntime.Must(cmapi.AddToScheme(scheme))

	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "loading the client configuration")
		os.Exit(1)
	}
	mgr, err := ctrl.NewManager(util.RestConfigWithUserAgent(cfg, "cainjector"), ctrl.Options{
		Scheme:                        scheme,
		LeaderElection:                leaderElect,
		LeaderElectionID:              "cert-manager-cainjector-leader-election",
		LeaderElectionNamespace:       leaderNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &leaseDuration,
		RenewDeadline:                 &renewDeadline,
		RetryPeriod:                   &retryPeriod,
		HealthProbeBindAddress:        healthzAddr,
		LivenessEndpointName:          "/livez",
		Metrics:                       metricsserver.Options{BindAddress: metricsAddr},
		// The injectors watch Secrets as metadata only and read the few they
		// need straight from the API server instead of caching every Secret.
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
	})
	if err != nil {
		log.Error(err, "creating the manager")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		log.Error(err, "adding the liveness check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		log.Error(err, "adding the readiness check")
		os.Exit(1)
	}
	err = cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		Namespace:                    namespace,
		EnableCertificatesDataSource: fromCertificates,
		EnabledReconcilersFor: map[string]bool{
			cainjector.MutatingWebhookConfigurationName:   true,
			cainjector.ValidatingWebhookConfigurationName: true,
			cainjector.APIServiceName:                     true,
			cainjector.CustomResourceDefinitionName:       true,
		},
	})
	if err != nil {
		log.Error(err, "registering the injectors")
		os.Exit(1)
	}
	log.Info("starting", "version", util.AppVersion)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "manager stopped")
		logf.FlushLogs()
		os.Exit(1)
	}
}
