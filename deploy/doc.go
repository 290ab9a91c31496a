// Package deploy holds no code of the hub: it is where the files that run
// gridhub in production live, and its tests check them against the binary.
//
//	Dockerfile                 the image: a static binary on an empty base, non-root
//	compose/                   a whole stack on one host (Postgres, Redis, two hubs,
//	                           an OpenTelemetry collector, Prometheus, Grafana)
//	kubernetes/base            Deployment, migration Job, Service, HPA, PDB,
//	                           NetworkPolicy, ServiceMonitor, the configuration ConfigMap
//	kubernetes/overlays/production   a city's production overlay
//
// The tests render the kustomizations in process and decode every object
// strictly into the Kubernetes API types (a misspelt field fails), load the
// compose file with the Compose specification's loader, and compare the
// environment variables both set with the ones the binary reads
// (internal/envvars). README.md beside this file says how to run them.
package deploy
