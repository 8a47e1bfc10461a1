// Preload (`node -r`) that CPU-profiles an app until it is told to stop (SIGTERM/SIGINT), then writes
// VH_CPU_PROFILE_DIR/<app>-<pid>.cpuprofile. `--cpu-prof` cannot do this: Nest re-raises SIGTERM after its
// shutdown hooks, so the process dies of the signal and Node never writes the profile. Used by
// `VH_APP_NODE_ARGS="-r $PWD/bench/profiling/cpu-profile-preload.js"` (see docs/operations.md).
'use strict';
const inspector = require('node:inspector');
const { writeFileSync, mkdirSync } = require('node:fs');
const { join, basename, dirname } = require('node:path');

const dir = process.env.VH_CPU_PROFILE_DIR || 'bench/results/profiles';
const app = basename(dirname(dirname(process.argv[1] || 'app/src/main.js')));
const session = new inspector.Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 200 });
session.post('Profiler.start');
let written = false;
const write = () => {
  if (written) return;
  written = true;
  // An in-process session answers synchronously: the profile is written before the handlers of Nest run.
  session.post('Profiler.stop', (error, result) => {
    if (error) return;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${app}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
  });
};
for (const signal of ['SIGTERM', 'SIGINT']) process.prependListener(signal, write);
// SIGWINCH (not a signal Nest's shutdown hooks listen to, as they do to SIGUSR2): drop what was sampled so far (start-up, warm-up) and start again; sent by the benchmarks when
// the measured window opens (`profileFromHere`).
process.on('SIGWINCH', () => {
  session.post('Profiler.stop');
  session.post('Profiler.start');
});
process.on('exit', write);
