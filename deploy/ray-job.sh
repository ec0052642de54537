#!/usr/bin/env bash
# Submit a vlpipe build to a running Ray cluster as a Ray job.
#   RAY_ADDRESS=http://head:8265 deploy/ray-job.sh INPUT OUTPUT [extra vlpipe build options]
# The cluster's image must have vlpipe installed, and OUTPUT must be on a filesystem every node
# sees. Re-submitting the same job resumes it.
set -euo pipefail
input=$1 output=$2
shift 2
exec ray job submit --address "${RAY_ADDRESS:?set RAY_ADDRESS to the dashboard address}" -- \
  vlpipe build --source jupyter --input "$input" --output "$output" "$@"
