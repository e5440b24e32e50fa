//! The figures of one run: one row each, printed as one table and written as JSON.

use serde::Serialize;

/// Which way a goal points.
#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// The ratio must be at least this.
    AtLeast(f64),
    /// The ratio (or, without a baseline, the value) must be at most this.
    AtMost(f64),
}

/// One measured figure.
#[derive(Serialize)]
pub struct Figure {
    /// Group in the table ("baseline", "commands over HTTP", "read side", ...).
    pub section: String,
    /// What was measured, e.g. "update, 8 clients, empty database".
    pub name: String,
    /// The measured value.
    pub value: f64,
    /// Its unit, e.g. "commands/s", "ms", "events/s", "MiB".
    pub unit: String,
    /// The row the ratio is taken against (its `name`), if any.
    pub baseline: Option<String>,
    /// `value / baseline value` (for latencies: `value / baseline value` too, so lower is better).
    pub ratio: Option<f64>,
    /// The goal the issue sets for this ratio (or value), if any.
    pub goal: Option<Goal>,
}

impl Figure {
    /// Whether the goal is met (`None` without a goal).
    pub fn met(&self) -> Option<bool> {
        let measured = self.ratio.unwrap_or(self.value);
        self.goal.map(|goal| match goal {
            Goal::AtLeast(x) => measured >= x,
            Goal::AtMost(x) => measured <= x,
        })
    }
}

/// All figures of the run, in the order measured.
#[derive(Default, Serialize)]
pub struct Report {
    figures: Vec<Figure>,
}

impl Report {
    /// An empty report.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a figure without a baseline.
    pub fn value(&mut self, section: &str, name: &str, value: f64, unit: &str) {
        self.push(section, name, value, unit, None, None);
    }

    /// Records a figure with its ratio to the already recorded figure named `baseline`
    /// (panics if there is none: a ratio to nothing is a bug in the bench).
    pub fn ratio(&mut self, section: &str, name: &str, value: f64, unit: &str, baseline: &str, goal: Option<Goal>) {
        self.push(section, name, value, unit, Some(baseline), goal);
    }

    /// Records a figure with a goal on its value itself (e.g. p99 <= 50 ms).
    pub fn bounded(&mut self, section: &str, name: &str, value: f64, unit: &str, goal: Goal) {
        self.figures.push(Figure {
            section: section.into(),
            name: name.into(),
            value,
            unit: unit.into(),
            baseline: None,
            ratio: None,
            goal: Some(goal),
        });
        eprintln!("limit: {section} | {name}: {value:.2} {unit}");
    }

    fn push(&mut self, section: &str, name: &str, value: f64, unit: &str, baseline: Option<&str>, goal: Option<Goal>) {
        let ratio = baseline.map(|b| {
            let base = self.figures.iter().find(|f| f.name == b).unwrap_or_else(|| panic!("no baseline named {b:?}"));
            value / base.value
        });
        // Progress as it comes: a long run shows where it is.
        eprintln!("limit: {section} | {name}: {value:.2} {unit}{}", ratio.map(|r| format!(" ({r:.2}x)")).unwrap_or_default());
        self.figures.push(Figure {
            section: section.into(),
            name: name.into(),
            value,
            unit: unit.into(),
            baseline: baseline.map(Into::into),
            ratio,
            goal,
        });
    }

    /// Prints the table (Markdown, so it can be pasted into `BENCHMARKS.md` as it is).
    pub fn print(&self) {
        println!("| section | figure | value | unit | ratio | baseline | goal | met |");
        println!("|---|---|---:|---|---:|---|---|---|");
        for f in &self.figures {
            let goal = match f.goal {
                Some(Goal::AtLeast(x)) => format!(">= {x}"),
                Some(Goal::AtMost(x)) => format!("<= {x}"),
                None => String::new(),
            };
            let met = match f.met() {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                f.section,
                f.name,
                format_value(f.value),
                f.unit,
                f.ratio.map(|r| format!("{r:.2}")).unwrap_or_default(),
                f.baseline.as_deref().unwrap_or(""),
                goal,
                met
            );
        }
    }

    /// Writes the figures to `target/<file>` (honouring `CARGO_TARGET_DIR`).
    pub fn write_json(&self, file: &str) {
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(file);
        let machine = serde_json::json!({
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "os": std::env::consts::OS,
        });
        let body = serde_json::json!({ "machine": machine, "figures": self.figures });
        std::fs::write(&path, serde_json::to_string_pretty(&body).unwrap()).expect("write the bench JSON");
        eprintln!("limit: figures written to {}", path.display());
    }
}

/// Rates without decimals, latencies with two.
fn format_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}
