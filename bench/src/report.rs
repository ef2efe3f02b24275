//! The Markdown report: one table of every workload against every target, the fixed-rate
//! workloads compared round by round, the JWT microbenchmark, and a PASS/FAIL line per target of
//! the issue.

use std::fmt::Write as _;

use crate::jwt::JwtTimes;
use crate::load::Latency;

/// The targets measured, in report order.
pub const TARGETS: [&str; 5] = [
    "(a) kube-apiserver direct",
    "(b) no-op pass-through",
    "(c) kubenova-proxy direct",
    "(d) kubenova-proxy → capsule-proxy",
    "(e) capsule-proxy alone (ServiceAccount token)",
];

/// Index of (c) in [`TARGETS`].
pub const C: usize = 2;
/// Index of (d) in [`TARGETS`].
pub const D: usize = 3;
/// Index of (e) in [`TARGETS`].
pub const E: usize = 4;

/// The p50 and p99 of one round of one target, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundQuantiles {
    /// Median latency.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl RoundQuantiles {
    /// The quantiles of `latency`.
    pub fn of(latency: &Latency) -> Self {
        RoundQuantiles {
            p50: latency.quantile_ms(0.5),
            p99: latency.quantile_ms(0.99),
        }
    }

    fn at(&self, q: f64) -> f64 {
        if q <= 0.5 { self.p50 } else { self.p99 }
    }
}

/// Where a set of per-round figures lies: its median, quartiles and extremes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// How many rounds.
    pub rounds: usize,
    /// The median (the mean of the two middle values for an even count).
    pub median: f64,
    /// First quartile.
    pub q1: f64,
    /// Third quartile.
    pub q3: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        // Linear interpolation between the closest ranks.
        let at = |q: f64| {
            let pos = q * (sorted.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
        };
        Some(Spread {
            rounds: sorted.len(),
            median: at(0.5),
            q1: at(0.25),
            q3: at(0.75),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        })
    }
}

/// One workload against one target.
#[derive(Debug, Clone)]
pub struct Run {
    /// Latencies and counts, merged over the rounds.
    pub latency: Latency,
    /// Each round's quantiles, in round order.
    pub rounds: Vec<RoundQuantiles>,
    /// CPU ticks the target's proxy processes used during the run: (b)'s or (c)'s process,
    /// kubenova-proxy and capsule-proxy together for (d), capsule-proxy for (e); none for (a).
    pub proxy_ticks: Option<u64>,
    /// CPU ticks kube-apiserver used during the run.
    pub apiserver_ticks: u64,
}

/// What the latency column of a workload means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Open loop at a fixed rate; latency from the intended send time.
    FixedRate(u32),
    /// Closed loop with this many workers on one connection.
    Saturation(usize),
    /// One request at a time.
    Sequential,
}

/// One workload against every target.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Its name in the table.
    pub name: String,
    /// How it was driven.
    pub kind: Kind,
    /// Indexed like [`TARGETS`].
    pub runs: [Option<Run>; 5],
}

/// Idle watches held through (b) and (c).
#[derive(Debug, Clone, Default)]
pub struct WatchMemory {
    /// How many watches.
    pub count: usize,
    /// `(RSS before, RSS after)` in KiB, indexed like [`TARGETS`] ((a) unused).
    pub rss: [Option<(u64, u64)>; 5],
}

impl WatchMemory {
    /// KiB per idle watch for target `t`.
    pub fn per_watch(&self, t: usize) -> Option<f64> {
        let (before, after) = self.rss[t]?;
        Some((after as f64 - before as f64) / self.count.max(1) as f64)
    }
}

/// One fixed rate against the static upstream: (b) and (c) in front of it.
#[derive(Debug, Clone)]
pub struct StaticRow {
    /// Requests per second.
    pub rate: u32,
    /// The no-op pass-through in front of the static upstream.
    pub b: Run,
    /// kubenova-proxy in front of the static upstream.
    pub c: Run,
}

/// The rows that isolate the proxy from kube-apiserver and etcd.
#[derive(Debug, Clone, Default)]
pub struct StaticUpstream {
    /// One per fixed rate.
    pub rows: Vec<StaticRow>,
    /// How the processes were placed on the cores.
    pub pinned: String,
}

impl StaticRow {
    /// What (c) added to quantile `q` over (b), round by round (the same round's (b)).
    pub fn added_by_round(&self, q: f64) -> Option<Spread> {
        let added: Vec<f64> = self
            .b
            .rounds
            .iter()
            .zip(&self.c.rounds)
            .map(|(b, c)| c.at(q) - b.at(q))
            .collect();
        Spread::of(&added)
    }
}

/// Everything a report shows.
#[derive(Debug, Clone)]
pub struct Report {
    /// The command line, as run.
    pub command: String,
    /// `nproc`, CPU model, kernel, load averages, date, commit.
    pub machine: Vec<(String, String)>,
    /// Parameters of the run, for the reader.
    pub parameters: Vec<(String, String)>,
    /// Clock ticks per second, and whether assumed.
    pub clock_ticks: (u64, bool),
    /// The latency workloads.
    pub workloads: Vec<Workload>,
    /// Idle watch memory.
    pub watches: WatchMemory,
    /// JWT verification.
    pub jwt: JwtTimes,
    /// (b) and (c) in front of a static upstream.
    pub static_upstream: StaticUpstream,
}

fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0 && numerator.is_finite()).then(|| numerator / denominator)
}

fn times(r: Option<f64>) -> String {
    r.map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}x"))
}

impl Report {
    fn cpu_per_1k(&self, ticks: u64, ok: u64) -> Option<f64> {
        (ok > 0).then(|| ticks as f64 / self.clock_ticks.0 as f64 / ok as f64 * 1000.0)
    }

    fn proxy_cpu(&self, run: &Run) -> Option<f64> {
        self.cpu_per_1k(run.proxy_ticks?, run.latency.ok)
    }

    fn added(w: &Workload, t: usize, q: f64) -> Option<f64> {
        let a = w.runs[0].as_ref()?;
        let x = w.runs[t].as_ref()?;
        Some(x.latency.quantile_ms(q) - a.latency.quantile_ms(q))
    }

    /// What target `t` added to quantile `q` in each round, against the same round's (a): the
    /// spread of those differences. One noisy round moves the extremes, not the median.
    pub fn added_by_round(w: &Workload, t: usize, q: f64) -> Option<Spread> {
        let a = w.runs[0].as_ref()?;
        let x = w.runs[t].as_ref()?;
        let added: Vec<f64> = a
            .rounds
            .iter()
            .zip(&x.rounds)
            .map(|(a, x)| x.at(q) - a.at(q))
            .collect();
        Spread::of(&added)
    }

    /// The workload run open-loop at `rate`.
    fn at_rate(&self, rate: u32) -> Option<&Workload> {
        self.workloads
            .iter()
            .find(|w| w.kind == Kind::FixedRate(rate))
    }

    fn saturation(&self) -> Option<&Workload> {
        self.workloads
            .iter()
            .find(|w| matches!(w.kind, Kind::Saturation(_)))
    }

    /// The `(c)/(b)` cell of a workload.
    fn c_over_b(&self, w: &Workload) -> String {
        let (Some(b), Some(c)) = (&w.runs[1], &w.runs[2]) else {
            return "n/a".into();
        };
        let added = |q: f64| -> String {
            match (Self::added(w, 1, q), Self::added(w, 2, q)) {
                (Some(b), Some(c)) if b > 0.0 && c > 0.0 => times(ratio(c, b)),
                (Some(_), Some(c)) if c <= 0.0 => "≤ 0 ((c) adds ≤ 0)".into(),
                _ => "n/a ((b) adds ≤ 0)".into(),
            }
        };
        let mut cell = format!("+p50 {}, +p99 {}", added(0.5), added(0.99));
        if matches!(w.kind, Kind::Saturation(_)) {
            let _ = write!(
                cell,
                ", req/s {}",
                times(ratio(c.latency.rate(), b.latency.rate()))
            );
        }
        if let (Some(cc), Some(bc)) = (self.proxy_cpu(c), self.proxy_cpu(b)) {
            let _ = write!(cell, ", CPU {}", times(ratio(cc, bc)));
        }
        cell
    }

    /// The `(d)/(e)` cell of a workload: what KubeNova in front of capsule-proxy costs over
    /// capsule-proxy alone.
    fn d_over_e(&self, w: &Workload) -> String {
        let (Some(d), Some(e)) = (&w.runs[D], &w.runs[E]) else {
            return "n/a".into();
        };
        let mut cell = format!(
            "p50 {}, p99 {}",
            times(ratio(
                d.latency.quantile_ms(0.5),
                e.latency.quantile_ms(0.5)
            )),
            times(ratio(
                d.latency.quantile_ms(0.99),
                e.latency.quantile_ms(0.99)
            ))
        );
        if matches!(w.kind, Kind::Saturation(_)) {
            let _ = write!(
                cell,
                ", req/s {}",
                times(ratio(d.latency.rate(), e.latency.rate()))
            );
        }
        if let (Some(dc), Some(ec)) = (self.proxy_cpu(d), self.proxy_cpu(e)) {
            let _ = write!(cell, ", CPU {}", times(ratio(dc, ec)));
        }
        cell
    }

    /// Renders the whole report.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# kubenova-proxy benchmark\n");
        let _ = writeln!(out, "Command: `{}`\n", self.command);
        for (k, v) in &self.machine {
            let _ = writeln!(out, "- {k}: {v}");
        }
        let _ = writeln!(out);
        for (k, v) in &self.parameters {
            let _ = writeln!(out, "- {k}: {v}");
        }
        let _ = writeln!(
            out,
            "- CPU clock ticks: {}/s{}",
            self.clock_ticks.0,
            if self.clock_ticks.1 {
                " (assumed: `getconf CLK_TCK` did not answer)"
            } else {
                " (`getconf CLK_TCK`)"
            }
        );
        let _ = writeln!(out);
        out.push_str(&self.table());
        out.push_str(&self.rounds_table());
        out.push_str(&self.static_table());
        out.push_str(&self.jwt_table());
        out.push_str(&self.verdicts());
        out.push_str(&self.errors());
        out
    }

    fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "## Results\n");
        let _ = writeln!(
            out,
            "| workload | target | p50 ms | p99 ms | +p50 ms vs (a) | +p99 ms vs (a) | req/s | errors | proxy CPU s/1000 req | apiserver CPU s/1000 req | KiB/idle watch | (c)/(b), (d)/(e) |"
        );
        let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|");
        let dash = "—".to_owned();
        for w in &self.workloads {
            for (t, run) in w.runs.iter().enumerate() {
                let Some(run) = run else { continue };
                let l = &run.latency;
                let added = |q| {
                    if t == 0 {
                        dash.clone()
                    } else {
                        Self::added(w, t, q).map_or(dash.clone(), |d| format!("{d:+.2}"))
                    }
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.2} | {:.2} | {} | {} | {:.0} | {} | {} | {} | — | {} |",
                    w.name,
                    TARGETS[t],
                    l.quantile_ms(0.5),
                    l.quantile_ms(0.99),
                    added(0.5),
                    added(0.99),
                    l.rate(),
                    l.errors,
                    self.proxy_cpu(run)
                        .map_or(dash.clone(), |c| format!("{c:.3}")),
                    self.cpu_per_1k(run.apiserver_ticks, l.ok)
                        .map_or(dash.clone(), |c| format!("{c:.3}")),
                    match t {
                        C => self.c_over_b(w),
                        D => self.d_over_e(w),
                        _ => dash.clone(),
                    },
                );
            }
        }
        for t in [1, 2] {
            let ratio_cell = if t == 2 {
                match (self.watches.per_watch(1), self.watches.per_watch(2)) {
                    (Some(b), Some(c)) if b > 0.0 => times(ratio(c, b)),
                    _ => "n/a".into(),
                }
            } else {
                dash.clone()
            };
            let _ = writeln!(
                out,
                "| {} idle watches | {} | — | — | — | — | — | — | — | — | {} | {} |",
                self.watches.count,
                TARGETS[t],
                self.watches
                    .per_watch(t)
                    .map_or(dash.clone(), |k| format!("{k:.1}")),
                ratio_cell,
            );
        }
        let _ = writeln!(out);
        out
    }

    /// The fixed-rate workloads round by round: what (b) and (c) added to p50 and p99 against
    /// the same round's (a), and how much (a)'s own p99 moved from round to round.
    fn rounds_table(&self) -> String {
        let mut out = String::new();
        let fixed: Vec<&Workload> = self
            .workloads
            .iter()
            .filter(|w| matches!(w.kind, Kind::FixedRate(_)))
            .collect();
        if fixed.is_empty() {
            return out;
        }
        let _ = writeln!(
            out,
            "## Fixed rates, round by round
"
        );
        let _ = writeln!(
            out,
            "Each round's p50 and p99 of (b) to (e) minus the same round's (a), then the median \
             over the rounds, the interquartile range (IQR) and the extremes. The machine's noise \
             moves whole rounds (see (a)'s own p99 from round to round); the median of the \
             paired differences is what one noisy round cannot move.\n"
        );
        let _ = writeln!(
            out,
            "| workload | target | rounds | median +p50 ms | median +p99 ms | +p99 IQR ms | +p99 min .. max ms | (a) p99 per round, min .. max ms |"
        );
        let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|--:|");
        for w in fixed {
            let a_p99: Vec<f64> = w.runs[0]
                .as_ref()
                .map(|a| a.rounds.iter().map(|r| r.p99).collect())
                .unwrap_or_default();
            let a_range = Spread::of(&a_p99).map_or_else(
                || "—".to_owned(),
                |s| format!("{:.2} .. {:.2}", s.min, s.max),
            );
            for (t, target) in TARGETS.iter().enumerate().skip(1) {
                let (Some(p50), Some(p99)) = (
                    Self::added_by_round(w, t, 0.5),
                    Self::added_by_round(w, t, 0.99),
                ) else {
                    continue;
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:+.2} | {:+.2} | {:+.2} .. {:+.2} | {:+.2} .. {:+.2} | {} |",
                    w.name,
                    target,
                    p99.rounds,
                    p50.median,
                    p99.median,
                    p99.q1,
                    p99.q3,
                    p99.min,
                    p99.max,
                    a_range,
                );
            }
        }
        let _ = writeln!(out);
        out
    }

    /// (b) and (c) in front of the static upstream: their quantiles, and what (c) added over
    /// (b) round by round.
    fn static_table(&self) -> String {
        let mut out = String::new();
        let fixed = &self.static_upstream;
        if fixed.rows.is_empty() {
            return out;
        }
        let _ = writeln!(out, "## Static upstream (the proxy alone)\n");
        let _ = writeln!(
            out,
            "(b) and (c) in front of a server that answers the GET of the 1 KiB ConfigMap from \
             memory (and relays the proxies' own reads to kube-apiserver), so kube-apiserver \
             and etcd are out of the measured path; {}. Each round's (c) minus the same \
             round's (b).\n",
            fixed.pinned
        );
        let _ = writeln!(
            out,
            "| rate | (b) p50 ms | (b) p99 ms | (c) p50 ms | (c) p99 ms | median +p50 ms | median +p99 ms | +p99 IQR ms | errors (b), (c) | CPU s/1000 req (b), (c) |"
        );
        let _ = writeln!(out, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        for row in &fixed.rows {
            let (Some(p50), Some(p99)) = (row.added_by_round(0.5), row.added_by_round(0.99)) else {
                continue;
            };
            let cpu = |run: &Run| {
                self.proxy_cpu(run)
                    .map_or_else(|| "—".to_owned(), |c| format!("{c:.3}"))
            };
            let _ = writeln!(
                out,
                "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:+.3} | {:+.3} | {:+.2} .. {:+.2} | {}, {} | {}, {} |",
                row.rate,
                row.b.latency.quantile_ms(0.5),
                row.b.latency.quantile_ms(0.99),
                row.c.latency.quantile_ms(0.5),
                row.c.latency.quantile_ms(0.99),
                p50.median,
                p99.median,
                p99.q1,
                p99.q3,
                row.b.latency.errors,
                row.c.latency.errors,
                cpu(&row.b),
                cpu(&row.c),
            );
        }
        let _ = writeln!(out);
        out
    }

    fn jwt_table(&self) -> String {
        let j = &self.jwt;
        let mut out = String::new();
        let _ = writeln!(out, "## JWT verification (in-process, one thread)\n");
        let _ = writeln!(out, "| operation | µs/op | ops/s | vs cached |");
        let _ = writeln!(out, "|---|--:|--:|--:|");
        let hit = j.hit.as_secs_f64();
        for (name, d) in [
            (
                format!(
                    "uncached: `Verifier::verify` ({} distinct tokens)",
                    j.tokens
                ),
                j.verify,
            ),
            (
                format!(
                    "uncached: `Authenticator::authenticate`, cache miss ({} distinct tokens)",
                    j.tokens
                ),
                j.miss,
            ),
            (
                format!(
                    "cached: `Authenticator::authenticate`, cache hit ({} calls)",
                    j.hits
                ),
                j.hit,
            ),
        ] {
            let s = d.as_secs_f64();
            let _ = writeln!(
                out,
                "| {name} | {:.2} | {:.0} | {} |",
                s * 1e6,
                1.0 / s.max(1e-12),
                times(ratio(s, hit)),
            );
        }
        let _ = writeln!(out);
        out
    }

    fn verdicts(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "## Targets\n");
        let _ = writeln!(
            out,
            "One run; a busy machine (see the load average above) moves p99 most. The p99 target \
             is judged on the median over the rounds of each round's added p99 (the round's (c) \
             minus the same round's (a); see \"Fixed rates, round by round\"), so one noisy \
             round cannot decide it; the merged figure from the results table is shown beside \
             it.\n"
        );
        let pass = |ok: bool| if ok { "PASS" } else { "FAIL" };

        let cpu = self.saturation().and_then(|w| {
            let b = self.proxy_cpu(w.runs[1].as_ref()?)?;
            let c = self.proxy_cpu(w.runs[2].as_ref()?)?;
            ratio(c, b)
        });
        let _ = writeln!(
            out,
            "- (c) costs at most 1.5x the CPU per request of (b) (saturation run): {}",
            cpu.map_or("NOT MEASURED".to_owned(), |r| format!(
                "{} ({r:.2}x)",
                pass(r <= 1.5)
            ))
        );

        let p99 = self.at_rate(1000).and_then(|w| {
            let c = w.runs[2].as_ref()?;
            Some((
                Self::added_by_round(w, 2, 0.99)?,
                Self::added(w, 2, 0.99)?,
                Self::added_by_round(w, 1, 0.99),
                c.latency.errors,
            ))
        });
        let _ = writeln!(
            out,
            "- (c) adds at most 1 ms p99 over (a) at 1,000 req/s (median over rounds): {}",
            match p99 {
                None => "NOT MEASURED (no run at 1000 req/s)".to_owned(),
                Some((by_round, merged, b, errors)) => {
                    let verdict = if errors > 0 {
                        format!("FAIL ({errors} errors; ")
                    } else {
                        format!("{} (", pass(by_round.median <= 1.0))
                    };
                    format!(
                        "{verdict}median {:+.2} ms over {} rounds, IQR {:+.2} .. {:+.2} ms, \
                         range {:+.2} .. {:+.2} ms; merged {merged:+.2} ms; (b) alone: {})",
                        by_round.median,
                        by_round.rounds,
                        by_round.q1,
                        by_round.q3,
                        by_round.min,
                        by_round.max,
                        b.map_or_else(
                            || "n/a".to_owned(),
                            |b| format!("median {:+.2} ms", b.median)
                        ),
                    )
                }
            }
        );

        // (c) against (e), and (d) against (e), in the saturation run: the same closed loop of
        // workers on one connection for each, so each target's p99 is shown beside its rate.
        let saturated = self.saturation().and_then(|w| {
            Some((
                w.runs[C].as_ref()?.latency.clone(),
                w.runs[E].as_ref()?.latency.clone(),
            ))
        });
        let _ = writeln!(
            out,
            "- (c) serves at least 5x the requests/s of (e) (saturation run; p99 of each beside): {}",
            match saturated {
                None => "NOT MEASURED".to_owned(),
                Some((c, e)) => match ratio(c.rate(), e.rate()) {
                    None => "NOT MEASURED ((e) served nothing)".to_owned(),
                    Some(r) => format!(
                        "{} ({r:.2}x: {:.0} vs {:.0} req/s; p99 {:.2} vs {:.2} ms)",
                        pass(r >= 5.0 && c.errors == 0),
                        c.rate(),
                        e.rate(),
                        c.quantile_ms(0.99),
                        e.quantile_ms(0.99)
                    ),
                },
            }
        );
        let d_cpu = self.saturation().and_then(|w| {
            let d = self.proxy_cpu(w.runs[D].as_ref()?)?;
            let e = self.proxy_cpu(w.runs[E].as_ref()?)?;
            Some((d, e))
        });
        let _ = writeln!(
            out,
            "- (d) costs at most 1.2x the CPU per request of (e) (kubenova-proxy and capsule-proxy \
             together against capsule-proxy alone, saturation run): {}",
            d_cpu.map_or("NOT MEASURED".to_owned(), |(d, e)| {
                let r = d / e;
                format!(
                    "{} ({r:.2}x: {d:.3} vs {e:.3} s per 1000 requests)",
                    pass(r <= 1.2)
                )
            })
        );

        let isolated = self
            .static_upstream
            .rows
            .iter()
            .find(|r| r.rate == 1000)
            .and_then(|r| {
                Some((
                    r.added_by_round(0.5)?,
                    r.added_by_round(0.99)?,
                    r.b.latency.errors + r.c.latency.errors,
                ))
            });
        let _ = writeln!(
            out,
            "- (c) adds at most 0.1 ms p50 and 0.5 ms p99 over (b) at 1,000 req/s in front of a \
             static upstream (medians over rounds): {}",
            match isolated {
                None => "NOT MEASURED (no static-upstream run at 1000 req/s)".to_owned(),
                Some((p50, p99, errors)) => format!(
                    "{} (p50 {:+.3} ms, p99 {:+.3} ms over {} rounds{})",
                    pass(errors == 0 && p50.median <= 0.1 && p99.median <= 0.5),
                    p50.median,
                    p99.median,
                    p99.rounds,
                    if errors > 0 {
                        format!("; {errors} errors")
                    } else {
                        String::new()
                    }
                ),
            }
        );

        let memory = match (self.watches.per_watch(1), self.watches.per_watch(2)) {
            (Some(b), Some(c)) if b > 0.0 => {
                let r = c / b;
                format!("{} ({r:.2}x: {c:.1} vs {b:.1} KiB)", pass(r <= 2.0))
            }
            (Some(_), Some(_)) => "INCONCLUSIVE ((b)'s RSS did not grow)".to_owned(),
            _ => "NOT MEASURED".to_owned(),
        };
        let _ = writeln!(
            out,
            "- (c) holds an idle watch in at most 2x the memory of (b): {memory}"
        );
        let _ = writeln!(out);
        out
    }

    fn errors(&self) -> String {
        let mut out = String::new();
        for w in &self.workloads {
            for (t, run) in w.runs.iter().enumerate() {
                if let Some(Run { latency, .. }) = run
                    && let Some(e) = &latency.first_error
                {
                    if out.is_empty() {
                        let _ = writeln!(out, "## Errors (first of each run)\n");
                    }
                    let _ = writeln!(
                        out,
                        "- {} / {}: {} errors, first: {e}",
                        w.name, TARGETS[t], latency.errors
                    );
                }
            }
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spread_of_rounds_is_robust_to_one_outlier() {
        let s = Spread::of(&[0.5, 0.2, 40.0, 0.4, 0.3]).expect("values");
        assert_eq!(s.rounds, 5);
        assert!((s.median - 0.4).abs() < 1e-9);
        assert!((s.q1 - 0.3).abs() < 1e-9);
        assert!((s.q3 - 0.5).abs() < 1e-9);
        assert!((s.min - 0.2).abs() < 1e-9 && (s.max - 40.0).abs() < 1e-9);
        let even = Spread::of(&[1.0, 3.0, -2.0, 5.0]).expect("values");
        assert!((even.median - 2.0).abs() < 1e-9);
        assert!(Spread::of(&[]).is_none());
    }

    #[test]
    fn each_round_is_compared_with_the_same_rounds_a() {
        let run = |p99: &[f64]| Run {
            latency: Latency::default(),
            rounds: p99
                .iter()
                .map(|&p99| RoundQuantiles { p50: 1.0, p99 })
                .collect(),
            proxy_ticks: None,
            apiserver_ticks: 0,
        };
        let w = Workload {
            name: "GET".into(),
            kind: Kind::FixedRate(1000),
            // (a) swings from 10 to 30 ms; (c) adds 0.5 ms each round but one (+20 ms).
            runs: [
                Some(run(&[10.0, 30.0, 12.0, 25.0, 11.0])),
                None,
                Some(run(&[10.5, 30.5, 32.0, 25.5, 11.5])),
                None,
                None,
            ],
        };
        let added = Report::added_by_round(&w, 2, 0.99).expect("rounds");
        assert!((added.median - 0.5).abs() < 1e-9);
        assert!((added.max - 20.0).abs() < 1e-9);
        assert!(Report::added_by_round(&w, 1, 0.99).is_none());
    }
}
