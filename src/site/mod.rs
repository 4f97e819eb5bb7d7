//! `build`: the registry source folder in, a static site out.
//!
//! discover → identify → verify (parallel, cached) → policy → plan → write. Nothing is written
//! unless every bundle passed; the site is staged beside the output and swapped in whole. When
//! the fingerprint of the inputs is the one the current site was built from, nothing is done.

pub mod api;
pub mod catalog;
pub mod collisions;
pub mod fingerprint;
pub mod hosting;
mod identify;
mod outcome;
pub mod output;
pub mod pages;
pub mod paths;
pub mod plan;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use rayon::prelude::*;

use crate::cache::{BuildRecord, Cache};
use crate::content_id::{self, ContentId, Scheme};
use crate::policy::{self, Checked};
use crate::report::{Problem, Rule};
use crate::source::{self, BundleFile, FileState, Source};
use crate::verify::{self, Report};
use output::{BuiltFrom, Staging};
use pages::Pages;
use paths::{AppFile, ReleaseFile, SiteFile};
use plan::{App, Site};

/// What to build, from where, to where.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub src: PathBuf,
    pub out: PathBuf,
    /// Worker threads; `None` uses every core.
    pub jobs: Option<usize>,
    /// Sign `index.json` with this registry key.
    pub sign: Option<IndexSigning>,
    /// The verification cache folder; `None` verifies every bundle.
    pub cache: Option<PathBuf>,
    /// Warnings are errors: a build that [`warned`](Outcome::warned) writes nothing.
    pub strict: bool,
    /// Let a source that publishes no bundle replace a site that has apps.
    pub allow_empty: bool,
}

/// Told how far a build is, for a progress display.
pub trait Progress: Sync {
    fn begin(&self, _total: u64) {}
    fn advance(&self) {}
    fn end(&self) {}
}

/// No display.
pub struct Quiet;
impl Progress for Quiet {}

/// How to sign the catalog (see [`catalog::sign`]).
#[derive(Debug, Clone)]
pub struct IndexSigning {
    pub key: ed25519_dalek::SigningKey,
    /// The catalog's version; default: the number of commits on the source's branch.
    pub version: Option<u64>,
    /// Seconds from the source's HEAD commit time until clients must refuse the catalog.
    pub expires_after: i64,
}

/// What a build did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Every refused bundle or settings file, each with all its problems. When not empty,
    /// nothing was written.
    pub refused: Vec<Report>,
    /// Warnings of bundles that were published.
    pub warnings: Vec<Report>,
    pub bundles: usize,
    /// Bundles verified in this run; the others came from the cache.
    pub verified: usize,
    pub apps: usize,
    /// Damaged cache entries ignored, and the like.
    pub cache_warnings: Vec<String>,
    /// Bundles left out because git does not track them.
    pub untracked: Vec<String>,
    /// Bundles left out because git ignores them.
    pub ignored: Vec<String>,
    /// Warnings about the source as a whole (see [`Source::warnings`]).
    pub build_warnings: Vec<String>,
    /// `strict`, and the build [`warned`](Outcome::warned): nothing was written.
    pub held_back: bool,
    /// The inputs were those of the site already at the output, which was left as it was.
    pub up_to_date: bool,
    /// Bundles whose content identity came from git's index rather than from reading them.
    pub identified_by_git: usize,
    /// Bundles read before verifying, only to be named (git could not vouch for them).
    pub named_by_reading: usize,
    /// registry.toml names no `base_url`, which absolute links need.
    pub no_base_url: bool,
}

impl Outcome {
    /// Whether the build warned about what it publishes: a bundle's warnings, or the source's.
    /// Notes on bundles left out while others are published, and cache warnings (about this
    /// machine's cache, never the site), are not warnings here.
    pub fn warned(&self) -> bool {
        !self.warnings.is_empty() || !self.build_warnings.is_empty()
    }
}

/// Which build of the tool this is: its version and the digest of the sources it was compiled
/// from (build.rs). Cached verdicts and built sites are reused only by the same build, since
/// another may have other rules or templates.
pub const TOOL: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "+",
    env!("MPK_REGISTRY_SOURCE_DIGEST")
);

/// Runs a whole build. `Err` means the tool could not do its job (unreadable source,
/// unwritable output); refusals are in the outcome.
pub fn build(options: &BuildOptions) -> Result<Outcome> {
    build_with(options, &Quiet)
}

/// [`build`], reporting progress.
pub fn build_with(options: &BuildOptions, progress: &dyn Progress) -> Result<Outcome> {
    build_as(options, TOOL, progress)
}

/// [`build_with`] as the build of the tool named `tool` (see [`TOOL`]) would run it: how tests
/// show what another build of the tool reuses.
pub fn build_as(options: &BuildOptions, tool: &str, progress: &dyn Progress) -> Result<Outcome> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(jobs) = options.jobs {
        pool = pool.num_threads(jobs.max(1));
    }
    let pool = pool.build().context("cannot start worker threads")?;
    pool.install(|| {
        output::remove_abandoned(&options.out);
        build_in_pool(options, tool, progress)
    })
}

/// The build, step by step: each step is a method of [`Run`], which carries what the steps
/// share. A step that settles the outcome (nothing changed, something refused) ends the build.
fn build_in_pool(options: &BuildOptions, tool: &str, progress: &dyn Progress) -> Result<Outcome> {
    let mut run = Run::discover(options, tool)?;
    run.check_not_emptied()?;
    let (scheme, ids) = run.identify()?;
    if run.up_to_date(&ids) {
        return Ok(run.outcome);
    }
    let (mut checked, ids) = run.verify(scheme, &ids, progress);
    if !run.policy(&mut checked) {
        return Ok(run.outcome);
    }
    let site = run.plan(checked)?;
    run.write(&site, &ids)?;
    Ok(run.outcome)
}

/// One build and what its steps share.
struct Run<'a> {
    options: &'a BuildOptions,
    /// Which build of the tool runs (see [`TOOL`]).
    tool: &'a str,
    source: Source,
    verify_options: verify::Options,
    cache: Option<Cache>,
    stamp: Option<catalog::Stamp>,
    /// The bundles' file states, taken first, so a bundle written to at any time during the
    /// build is noticed before the site is put in place.
    states: Vec<Option<FileState>>,
    /// What the site already at the output was built from.
    previous: BuiltFrom,
    outcome: Outcome,
}

impl<'a> Run<'a> {
    /// Lists the source and opens what the build reads besides: the cache, the signing key,
    /// the previous site's record.
    fn discover(options: &'a BuildOptions, tool: &'a str) -> Result<Run<'a>> {
        let source = source::discover(&options.src)?;
        let verify_options = verify::Options {
            allow_dev_key: source.registry.allow_dev_key,
            ..Default::default()
        };
        let cache = options
            .cache
            .as_deref()
            .map(|dir| Cache::open(dir, &verify_options, tool))
            .transpose()?;
        let stamp = options
            .sign
            .as_ref()
            .map(|signing| catalog::Stamp::new(signing, &source))
            .transpose()?;
        let outcome = Outcome {
            untracked: source.untracked.clone(),
            ignored: source.ignored.clone(),
            build_warnings: source.warnings(),
            bundles: source.bundles.len(),
            no_base_url: source.registry.base_url.is_none(),
            ..Default::default()
        };
        Ok(Run {
            states: file_states(&source),
            previous: BuiltFrom::read(&options.out),
            options,
            tool,
            source,
            verify_options,
            cache,
            stamp,
            outcome,
        })
    }

    /// A source that publishes no bundle does not replace a site that has apps unless asked
    /// to: an empty or mistyped source folder would otherwise take a live registry down.
    fn check_not_emptied(&self) -> Result<()> {
        let apps = self.previous.apps.len();
        if self.source.bundles.is_empty() && apps > 0 && !self.options.allow_empty {
            let (src, out) = (self.options.src.display(), self.options.out.display());
            bail!(
                "{src} publishes no bundle, but {out} is a site with {apps} app(s): this build would replace it with an empty one. Check that {src} is the registry folder; to empty the site on purpose, pass --allow-empty"
            );
        }
        Ok(())
    }

    /// How bundles are named, and each one's name as far as it is known before verifying.
    fn identify(&mut self) -> Result<(Scheme, Vec<Option<ContentId>>)> {
        identify(
            &self.source,
            &self.states,
            self.cache.as_ref(),
            &mut self.outcome,
        )
    }

    /// Whether the site at the output was built from exactly these inputs; then it is left
    /// as it is, and the outcome is what that build reported.
    fn up_to_date(&mut self, ids: &[Option<ContentId>]) -> bool {
        let Some(record) = self.cache.as_ref().and_then(|cache| {
            previous_build(
                self.tool,
                cache,
                &self.source,
                ids,
                self.stamp.as_ref(),
                &self.previous,
            )
        }) else {
            return false;
        };
        self.outcome.up_to_date = true;
        self.outcome.apps = record.apps;
        self.outcome.warnings = record.warnings;
        self.outcome.held_back = self.options.strict && self.outcome.warned();
        true
    }

    /// Every bundle's verdict, from the cache or by verifying it on every core; with the
    /// identity of the bytes each verdict is about (known now, unless a file changed while
    /// it was read).
    fn verify(
        &mut self,
        scheme: Scheme,
        ids: &[Option<ContentId>],
        progress: &dyn Progress,
    ) -> (Vec<Checked>, Vec<Option<ContentId>>) {
        progress.begin(self.source.bundles.len() as u64);
        let decided: Vec<Decided> = self
            .source
            .bundles
            .par_iter()
            .zip(ids)
            .map(|(file, id)| {
                let decided = decide(
                    file,
                    id.as_ref(),
                    scheme,
                    self.cache.as_ref(),
                    &self.verify_options,
                );
                progress.advance();
                decided
            })
            .collect();
        progress.end();
        self.outcome.verified = decided.iter().filter(|d| d.verified).count();
        let ids = decided.iter().map(|d| d.id.clone()).collect();
        let checked = self
            .source
            .bundles
            .iter()
            .zip(decided)
            .map(|(file, d)| Checked {
                report: d.report,
                file: file.clone(),
            })
            .collect();
        (checked, ids)
    }

    /// The registry's rules across bundles and settings. `false` when the build stops here:
    /// something was refused, or (with `--strict`) warned about.
    fn policy(&mut self, checked: &mut [Checked]) -> bool {
        let mut refused = policy::apply(&self.source, checked);
        refused.extend(
            checked
                .iter()
                .filter(|c| !c.report.ok())
                .map(|c| c.report.clone()),
        );
        self.outcome.warnings = checked
            .iter()
            .filter(|c| c.report.ok() && !c.report.warnings.is_empty())
            .map(|c| c.report.clone())
            .collect();
        if let Some(cache) = &self.cache {
            self.outcome.cache_warnings = cache.take_warnings();
        }
        if !refused.is_empty() {
            refused.sort_by(|a, b| a.file.cmp(&b.file));
            self.outcome.refused = refused;
            return false;
        }
        if self.options.strict && self.outcome.warned() {
            self.outcome.held_back = true;
            return false;
        }
        true
    }

    /// The site as data.
    fn plan(&mut self, checked: Vec<Checked>) -> Result<Site> {
        let site = Site::plan(&self.source, checked)?;
        self.outcome.apps = site.apps.len();
        Ok(site)
    }

    /// Stages every file of the site, checks that no bundle changed meanwhile, swaps the site
    /// in, and records what it was built from.
    fn write(&mut self, site: &Site, ids: &[Option<ContentId>]) -> Result<()> {
        let fingerprint = self.cache.as_ref().and_then(|_| {
            fingerprint::fingerprint(self.tool, &self.source, ids, self.stamp.as_ref())
        });
        // With a cache, the site records what each app's files were made from, so the next
        // build links the files of apps that did not change instead of making them again.
        let built = BuiltFrom {
            apps: match &self.cache {
                Some(_) => site
                    .apps
                    .iter()
                    .map(|app| (app.package.clone(), fingerprint::app(self.tool, site, app)))
                    .collect(),
                None => Default::default(),
            },
            inputs: fingerprint,
        };
        let staging = write(
            site,
            self.stamp.as_ref(),
            &self.options.out,
            &built,
            &self.previous,
        )?;
        // The site's copies of the bundles were made after verifying; had a bundle been
        // rewritten meanwhile, the copy could hold bytes nobody checked.
        if let Some(changed) = self
            .source
            .bundles
            .iter()
            .zip(&self.states)
            .zip(file_states(&self.source))
            .find(|((_, before), now)| *before != now)
        {
            bail!(
                "{} changed while the site was being built; nothing was written (run the build again once the source is still)",
                changed.0 .0.path.display()
            );
        }
        staging.commit()?;
        if let (Some(cache), Some(fp)) = (&self.cache, &built.inputs) {
            let record = BuildRecord {
                apps: self.outcome.apps,
                warnings: self.outcome.warnings.clone(),
            };
            cache.put_build_record(fp, &record);
            self.outcome.cache_warnings.extend(cache.take_warnings());
        }
        Ok(())
    }
}

/// How bundles are named in the cache, and each one's name as far as it is known before
/// verifying: what git vouches for, and, when there are cached verdicts to find, the others
/// read and named on every core (`None` when unreadable; verifying will say why). Without
/// cached verdicts, verifying names them instead of a read of its own.
fn identify(
    source: &Source,
    states: &[Option<FileState>],
    cache: Option<&Cache>,
    outcome: &mut Outcome,
) -> Result<(Scheme, Vec<Option<ContentId>>)> {
    let Some(cache) = cache else {
        // Still named while verified: inside git, the bytes must be the blob git holds.
        let scheme = identify::scheme(source);
        return Ok((scheme, vec![None; source.bundles.len()]));
    };
    let claimed = identify::claimed_by_git(source, states)?;
    outcome.identified_by_git = claimed.ids.iter().flatten().count();
    if !cache.has_verdicts() {
        return Ok((claimed.scheme, claimed.ids));
    }
    outcome.named_by_reading = claimed.ids.iter().filter(|id| id.is_none()).count();
    let ids = source
        .bundles
        .par_iter()
        .zip(claimed.ids)
        .map(|(file, id)| id.or_else(|| content_id::of_file(&file.path, claimed.scheme).ok()))
        .collect();
    Ok((claimed.scheme, ids))
}

/// Each bundle's file state (`None` when it cannot be read; verifying will say why).
fn file_states(source: &Source) -> Vec<Option<FileState>> {
    source
        .bundles
        .par_iter()
        .map(|file| FileState::of(&file.path).ok())
        .collect()
}

/// What the build that wrote the `previous` site reported, when it was built from exactly
/// these inputs.
fn previous_build(
    tool: &str,
    cache: &Cache,
    source: &Source,
    ids: &[Option<ContentId>],
    stamp: Option<&catalog::Stamp>,
    previous: &BuiltFrom,
) -> Option<BuildRecord> {
    let fp = fingerprint::fingerprint(tool, source, ids, stamp)?;
    (*previous.inputs.as_ref()? == fp)
        .then(|| cache.build_record(&fp))
        .flatten()
}

/// The verdict on one bundle, and the identity of the bytes it is about.
struct Decided {
    report: Report,
    /// Verified in this run rather than taken from the cache.
    verified: bool,
    /// `None` when unknown: no cache, or the bytes read were not the ones first named.
    id: Option<ContentId>,
}

/// Takes the verdict from the cache when the bundle's identity is there; else verifies the
/// bundle, naming the bytes read under `scheme`, and caches a passing verdict under that name,
/// unless the bytes are not those `id` named (the file changed meanwhile). Inside git, bytes
/// that are not the blob git holds for the file are refused, whatever they hold.
fn decide(
    file: &BundleFile,
    id: Option<&ContentId>,
    scheme: Scheme,
    cache: Option<&Cache>,
    options: &verify::Options,
) -> Decided {
    let held_by_git = |id: &ContentId| match (&file.blob, id) {
        (None, _) => true,
        (Some(blob), ContentId::GitBlob(_, id)) => blob == id,
        (Some(_), ContentId::Sha256(_)) => false,
    };
    if let (Some(cache), Some(id)) = (cache, id.filter(|id| held_by_git(id))) {
        if let Some(report) = cache.get(&cache.key(id), &file.rel) {
            return Decided {
                report,
                verified: false,
                id: Some(id.clone()),
            };
        }
    }
    let (mut report, read) = match scheme {
        Scheme::GitBlob(format) => {
            verify::verify_file_as_blob(&file.path, &file.rel, options, format)
        }
        Scheme::Sha256 => {
            let report = verify::verify_file(&file.path, &file.rel, options);
            let read = report
                .bundle
                .as_ref()
                .map(|b| ContentId::Sha256(b.bundle_sha256.clone()));
            (report, read)
        }
    };
    let read = read.filter(|read| id.is_none_or(|id| id == read));
    if let (Some(cache), Some(read)) = (cache, &read) {
        cache.put(&cache.key(read), &report);
    }
    let unreadable = report.problems.iter().any(|p| p.rule == Rule::Io);
    if file.blob.is_some() && !unreadable && !read.as_ref().is_some_and(held_by_git) {
        report.problems.push(Problem::new(
            Rule::NotInGit,
            file.rel.as_str(),
            format!(
                "the file in the work tree is not the blob git holds for it ({}): it was changed and not added",
                file.blob.as_deref().unwrap_or_default()
            ),
        ));
    }
    Decided {
        report,
        verified: true,
        id: read,
    }
}

/// Writes every file of the site into a staging folder, ready to be swapped in; `previous` is
/// what the site at `out` was built from (its unchanged apps are linked from it).
fn write(
    site: &Site,
    stamp: Option<&catalog::Stamp>,
    out: &std::path::Path,
    built: &BuiltFrom,
    previous: &BuiltFrom,
) -> Result<Staging> {
    let staging = Staging::new(out, built)?;
    let pages = Pages::new();
    let app_indexes: Vec<Vec<u8>> = site
        .apps
        .par_iter()
        .map(|app| {
            let unchanged = built
                .apps
                .get(&app.package)
                .is_some_and(|fp| previous.apps.get(&app.package) == Some(fp));
            match unchanged {
                true => reuse_app(&staging, app),
                false => None,
            }
            .unwrap_or_else(|| write_app(&staging, &pages, site, app))
        })
        .collect::<Result<_>>()?;

    let mut catalog = catalog::catalog(site, &app_indexes);
    catalog::sign(&mut catalog, stamp);
    let latest = catalog::to_bytes(&api::latest_list(&site.apps));
    for (rel, file) in paths::site_files() {
        let bytes = match file {
            SiteFile::Catalog => catalog::to_bytes(&catalog),
            SiteFile::Keys => catalog::to_bytes(&catalog::keys(site)),
            SiteFile::Home => pages.index(site)?,
            SiteFile::NotFoundPage => pages.not_found(site)?,
            SiteFile::Feed => pages.feed(site)?,
            SiteFile::Sitemap => match pages.sitemap(site)? {
                Some(sitemap) => sitemap,
                None => continue,
            },
            SiteFile::Asset(text) => text.as_bytes().to_vec(),
            SiteFile::LatestList => latest.clone(),
            SiteFile::ApiNotFound => catalog::to_bytes(&api::not_found()),
            SiteFile::ApiEmpty => catalog::to_bytes(&api::empty()),
            SiteFile::ApiInvalidParams => catalog::to_bytes(&api::invalid_params()),
            SiteFile::Health => catalog::to_bytes(&api::health()),
            SiteFile::Headers => hosting::render_headers(&hosting::header_rules()).into_bytes(),
            SiteFile::Redirects => hosting::render_redirects(&hosting::rewrites(site)).into_bytes(),
            SiteFile::Worker => include_bytes!("../../templates/hosts/_worker.js").to_vec(),
            SiteFile::NoJekyll => Vec::new(),
        };
        staging.write(rel, &bytes)?;
    }
    for (rel, filter) in paths::filter_files(&site.apps) {
        let list = api::filter_list(&site.apps, &filter);
        staging.write(&rel, &catalog::to_bytes(&list))?;
    }
    Ok(staging)
}

/// Links the files of an app made from the same inputs from the previous site, and returns
/// the bytes of its `index.json`; `None` (leaving none of them staged) when the previous site
/// lacks one of them.
fn reuse_app(staging: &Staging, app: &App) -> Option<Result<Vec<u8>>> {
    let mut rels: Vec<String> = paths::app_files(&app.package)
        .into_iter()
        .map(|(rel, _)| rel)
        .collect();
    let mut artifacts = Vec::new();
    for r in &app.releases {
        for (rel, file) in paths::release_files(&app.package, &r.bundle.app_version) {
            match file {
                ReleaseFile::Artifact => artifacts.push((rel, r)),
                ReleaseFile::Manifest | ReleaseFile::ApiVersion | ReleaseFile::ApiQueryVersion => {
                    rels.push(rel)
                }
            }
        }
    }
    for (done, rel) in rels.iter().enumerate() {
        if staging.link_previous(rel).is_err() {
            // Unlinking the staged names leaves the previous site's files as they are.
            let unstaged = rels[..done].iter().try_for_each(|rel| staging.remove(rel));
            return unstaged.err().map(Err);
        }
    }
    let artifacts = || -> Result<Vec<u8>> {
        for (rel, r) in &artifacts {
            stage_artifact(staging, rel, r)?;
        }
        staging.read(&paths::app_index(&app.package))
    };
    Some(artifacts())
}

/// Puts a release's bundle at its content-addressed path and at `rel`, the path nodes fetch,
/// and its bundle under the other signature scheme, if any, at its content-addressed path.
fn stage_artifact(staging: &Staging, rel: &str, r: &plan::Release) -> Result<()> {
    for other in &r.others {
        let content = paths::content_addressed(&other.bundle.bundle_sha256);
        staging.put_content_addressed(&content, &other.source)?;
    }
    let content = paths::content_addressed(&r.bundle.bundle_sha256);
    staging.put_content_addressed(&content, &r.source)?;
    staging.link_staged(rel, &content)
}

/// Writes one app's files and returns the bytes of its `index.json` (the catalog pins them).
fn write_app(staging: &Staging, pages: &Pages, site: &Site, app: &App) -> Result<Vec<u8>> {
    for r in &app.releases {
        for (rel, file) in paths::release_files(&app.package, &r.bundle.app_version) {
            match file {
                ReleaseFile::Manifest => staging.write(&rel, &r.bundle.manifest_bytes)?,
                ReleaseFile::Artifact => stage_artifact(staging, &rel, r)?,
                ReleaseFile::ApiVersion => {
                    staging.write(&rel, &catalog::to_bytes(&api::version(r)))?
                }
                ReleaseFile::ApiQueryVersion => {
                    staging.write(&rel, &catalog::to_bytes(&api::package_version(r)))?
                }
            }
        }
    }
    let index = catalog::to_bytes(&catalog::app_index(app));
    for (rel, file) in paths::app_files(&app.package) {
        let bytes = match file {
            AppFile::Index => index.clone(),
            AppFile::Page => pages.app(site, app)?,
            AppFile::ApiLatest => catalog::to_bytes(&api::package_latest(app)),
            AppFile::ApiAll => catalog::to_bytes(&api::package_all(app)),
        };
        staging.write(&rel, &bytes)?;
    }
    Ok(index)
}
