"""podpipe: the kernel every service image carries (events, runtime, key layout, S3 I/O, the stage
ledger, settings, topology, media, release). The operator CLI is podpipe_cli and the local stack
tooling podpipe_local, separate packages that no service image installs."""
