/**
 * Listing 5,000 waiting runs through the real client against the simulator, page size 100:
 * requests made, wall time and the peak RSS of this Node process while iterating. The runs are
 * counted and dropped, as a sweep does, so memory must stay flat however many there are.
 *
 * The simulator runs in this same process, so the RSS figure includes it (an upper bound for
 * the client alone).
 *
 * Run: npm run bench -- workflowApi
 */
import { SaasManagerClient } from '../shared/saasManager/saasManagerClient';
import { Secret } from '../shared/secret';
import { SaasManagerSimulator } from '../sandbox/saasManagerSimulator';

const WAITING_RUNS = 5000;
const OTHER_RUNS = 500;
const PAGE_SIZE = 100;
const RSS_GOAL_MB = 150;
const SAMPLE_INTERVAL_MS = 5;

const mb = (bytes: number) => (bytes / (1024 * 1024)).toFixed(1);

async function main(): Promise<void> {
  const sim = new SaasManagerSimulator();
  await sim.start();
  try {
    sim.addClient({ clientId: 'bench', clientSecret: 'bench-secret' });
    const workflow = sim.addWorkflow({
      name: 'Terminate Users',
      steps: [
        { name: 'Create task', type: 'CreateTask' },
        { name: 'Signal' },
        { name: 'Notify', type: 'SendEmail' },
      ],
    });
    // Runs the filter must leave out, interleaved with the waiting ones.
    for (let i = 0; i < OTHER_RUNS; i++) sim.addRun(workflow.id, { waitingAtStepName: 'Create task' });
    sim.addWaitingRuns(workflow.id, { count: WAITING_RUNS, stepName: 'Signal' });

    const client = new SaasManagerClient({
      baseUrl: sim.baseUrl,
      clientId: 'bench',
      clientSecret: new Secret('bench-secret'),
      pageSize: PAGE_SIZE,
    });
    const step = await client.resolveStep('Terminate Users', 'Signal', 'Continue');
    const setupRequests = sim.requests.length;

    // bench/run.mjs starts benchmarks with --expose-gc: measure from a collected heap when it can.
    (globalThis as { gc?: () => void }).gc?.();
    const rssBefore = process.memoryUsage.rss();
    let peak = rssBefore;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage.rss());
    }, SAMPLE_INTERVAL_MS);
    const started = performance.now();
    let count = 0;
    let withEmail = 0;
    for await (const run of client.listWaitingRuns(step)) {
      count++;
      if (run.person?.email) withEmail++;
      peak = Math.max(peak, process.memoryUsage.rss());
    }
    const wallMs = performance.now() - started;
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage.rss());

    const listing = sim.requests.slice(setupRequests);
    const pages = listing.filter((request) => request.route === 'listRuns').length;
    const met = peak / (1024 * 1024) <= RSS_GOAL_MB;
    console.log(
      `workflowApi bench: ${WAITING_RUNS} waiting runs (+${OTHER_RUNS} not waiting), page size ${PAGE_SIZE}, Node ${process.version}`,
    );
    console.log(`runs yielded: ${count} (${withEmail} with an email)`);
    console.log(`requests made while iterating: ${listing.length} (${pages} list pages)`);
    console.log(
      `requests made in all: ${sim.requests.length} (token ${sim.requestsTo('token').length}, workflow lookup ${sim.requestsTo('listWorkflows').length})`,
    );
    console.log(
      `wall time iterating: ${wallMs.toFixed(0)} ms (${((count / wallMs) * 1000).toFixed(0)} runs/s)`,
    );
    console.log(`RSS before iterating: ${mb(rssBefore)} MB`);
    console.log(`peak RSS while iterating: ${mb(peak)} MB (simulator in the same process)`);
    console.log(`goal peak RSS <= ${RSS_GOAL_MB} MB: ${met ? 'met' : 'NOT met'}`);
    if (count !== WAITING_RUNS) {
      console.log(`ERROR: expected ${WAITING_RUNS} runs, got ${count}`);
      process.exitCode = 1;
    }
  } finally {
    await sim.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
