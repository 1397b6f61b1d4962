// How big and how long each measurement is. `--quick` keeps the whole run under two minutes on two
// cores (population adds about one); the full run stays under ten, plus about four for the
// 1,000-member group through a relay (groups) and eight to twelve for the stepped population (five
// 60 s windows and their joins; each join is cut off at 5 minutes). Every load loop is bounded by
// these counts and times.
export interface Params {
  quick: boolean;
  bodyBytes: number; // pre-encrypted payload size for relay figures (1 KiB)
  warmupMs: number;
  measureMs: number;
  maxMessages: number; // per throughput run
  latencyRate: number; // offered msg/s
  latencyPairs: number;
  latencyMeasureMs: number;
  fanoutRecipients: number;
  drainCount: number;
  idleCounts: number[]; // idle connections, measured cumulatively
  cryptoMs: number;
  clientMessages: number;
  backlogMessages: number; // the backlog one client receives (pairwise, and group from 10 senders)
  loginMs: number;
  cliRuns: number;
  groupCostSizes: number[]; // group sizes whose change costs are counted on an in-memory relay
  groupRelaySizes: number[]; // group sizes run through a relay process at its default limits
  crowdUsers: number[]; // users that connect and reconnect at once (reconnect suite), stepped
  populationUsers: number[]; // active users on one relay (population suite), stepped up cumulatively
  populationHoldMs: number; // the measured window of each population step
}

export function params(quick: boolean): Params {
  return quick
    ? {
        quick, bodyBytes: 1024, warmupMs: 500, measureMs: 2000, maxMessages: 200_000, latencyRate: 2000, latencyPairs: 10,
        latencyMeasureMs: 3000, fanoutRecipients: 100, drainCount: 10_000, idleCounts: [1000], cryptoMs: 400,
        clientMessages: 1000, backlogMessages: 1000, loginMs: 3000, cliRuns: 5, groupCostSizes: [10], groupRelaySizes: [50],
        crowdUsers: [200, 1000],
        populationUsers: [200, 1000], populationHoldMs: 15_000,
      }
    : {
        quick, bodyBytes: 1024, warmupMs: 1000, measureMs: 5000, maxMessages: 1_000_000, latencyRate: 2000, latencyPairs: 10,
        latencyMeasureMs: 10_000, fanoutRecipients: 100, drainCount: 10_000, idleCounts: [5000, 10_000], cryptoMs: 1500,
        clientMessages: 10_000, backlogMessages: 10_000, loginMs: 8000, cliRuns: 15, groupCostSizes: [10, 100], groupRelaySizes: [100, 1000],
        crowdUsers: [1000, 3000, 10_000],
        populationUsers: [1000, 3000, 5000, 10_000, 15_000], populationHoldMs: 60_000,
      };
}
