//! A job's files as downloads, streamed: a blocking thread reads the file a
//! block at a time into a small channel the response drains, so a
//! 1,000,000-row result goes out without being held in memory. A file that
//! fails half-way, or that is shorter than when it was opened, ends the
//! response with an error, never a short file that looks whole. At most 16
//! downloads go on at once, and one whose client stops reading for a minute
//! is ended, so stalled clients cannot hold the server's threads. An input is
//! served only while its SHA-256 is the one its run read.

use std::io::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::mpsc;

use super::result_file::{self, open_file, results_of};
use super::{App, PageError};

/// How much a block carries, and how many blocks wait at most.
const BLOCK: usize = 64 * 1024;
const WAITING: usize = 4;
/// How long a client may leave a block unread.
const STALL: std::time::Duration = std::time::Duration::from_secs(60);
/// How many downloads go on at once.
pub(super) const AT_ONCE: usize = 16;

/// Hands what it is given to the response, a block at a time.
struct ToResponse {
    sender: mpsc::Sender<std::io::Result<Bytes>>,
    block: Vec<u8>,
    runtime: tokio::runtime::Handle,
}

impl ToResponse {
    fn send_block(&mut self) -> std::io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let block = Bytes::from(std::mem::replace(
            &mut self.block,
            Vec::with_capacity(BLOCK),
        ));
        let gone =
            || std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the download was abandoned");
        match self
            .runtime
            .block_on(tokio::time::timeout(STALL, self.sender.send(Ok(block))))
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(gone()),
            Err(_) => {
                tracing::warn!("a download's client stopped reading for a minute; it was ended");
                Err(gone())
            }
        }
    }
}

impl Write for ToResponse {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.block.extend_from_slice(bytes);
        if self.block.len() >= BLOCK {
            self.send_block()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send_block()
    }
}

/// Copies exactly `length` bytes of `file`: a file cut short since it was
/// opened fails the download.
fn copy_whole(file: std::fs::File, length: u64, out: &mut ToResponse) -> std::io::Result<()> {
    use std::io::Read;
    let copied = std::io::copy(&mut file.take(length), out)?;
    if copied < length {
        return Err(std::io::Error::other(format!(
            "the file is {copied} bytes now, {length} when the download started"
        )));
    }
    Ok(())
}

/// A file and its length now.
fn measured(file: std::fs::File) -> Result<(std::fs::File, u64), PageError> {
    let length = file
        .metadata()
        .map_err(|error| PageError::Internal(error.to_string()))?
        .len();
    Ok((file, length))
}

/// A response whose body `produce` writes on a blocking thread, one of the
/// server's downloads at once.
fn streamed<F>(
    app: &App,
    name: &str,
    length: Option<u64>,
    produce: F,
) -> Result<Response, PageError>
where
    F: FnOnce(&mut ToResponse) -> std::io::Result<()> + Send + 'static,
{
    let permit = Arc::clone(&app.downloads)
        .try_acquire_owned()
        .map_err(|_| {
            PageError::Busy(format!(
                "{AT_ONCE} downloads are going on; try again in a moment"
            ))
        })?;
    let (sender, receiver) = mpsc::channel(WAITING);
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut out = ToResponse {
            sender: sender.clone(),
            block: Vec::with_capacity(BLOCK),
            runtime,
        };
        if let Err(error) = produce(&mut out).and_then(|()| out.flush())
            && error.kind() != std::io::ErrorKind::BrokenPipe
        {
            tracing::warn!(error = %error, "a download failed half-way");
            let _ = out
                .runtime
                .block_on(tokio::time::timeout(STALL, sender.send(Err(error))));
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    // The name is bulkops' own (a job id and a word) or a file name made
    // safe, never a display name.
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Some(length) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    Ok(response)
}

/// A file name safe in a header: letters, digits, `-`, `_` and `.` only.
fn safe_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The job's result file, opened, with its length.
async fn results_file(app: &App, id: &str) -> Result<(std::fs::File, u64), PageError> {
    let job = id.to_owned();
    app.read(move |store| {
        let record = results_of(store, &job)?
            .ok_or_else(|| PageError::NotFound(format!("job `{job}` wrote no result file")))?;
        measured(open_file(store, &job, &record)?)
    })
    .await
}

/// `GET /jobs/{id}/results.csv`: the job's result file as written.
pub(super) async fn results(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let (file, length) = results_file(&app, &id).await?;
    streamed(
        &app,
        &safe_name(&format!("{id}-results.csv")),
        Some(length),
        move |out| copy_whole(file, length, out),
    )
}

/// `GET /jobs/{id}/failed-rows.csv`: the rows that failed, in the input's
/// columns, ready to be given back to the step.
pub(super) async fn failed_rows(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let (file, _) = results_file(&app, &id).await?;
    streamed(
        &app,
        &safe_name(&format!("{id}-failed-rows.csv")),
        None,
        move |out| result_file::write_failed_rows(file, out).map(|_| ()),
    )
}

/// `GET /jobs/{id}/files/{index}`: a file the job wrote, by its place in the
/// job's list of files.
pub(super) async fn file(
    State(app): State<App>,
    Path((id, index)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let job = id.clone();
    let index: usize = index
        .parse()
        .map_err(|_| PageError::NotFound(format!("job `{id}` has no file `{index}`")))?;
    let ((file, length), name) = app
        .read(move |store| {
            let record =
                store.files(&job)?.into_iter().nth(index).ok_or_else(|| {
                    PageError::NotFound(format!("job `{job}` has no file {index}"))
                })?;
            let name = super::layout::file_name(&record.path).to_owned();
            Ok((measured(open_file(store, &job, &record)?)?, name))
        })
        .await?;
    streamed(&app, &safe_name(&name), Some(length), move |out| {
        copy_whole(file, length, out)
    })
}

/// `GET /jobs/{id}/input`: the file the job read, only while its content is
/// what the run read (its SHA-256 as recorded): a file replaced since, or a
/// link put in its place, is not served.
pub(super) async fn input(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let job = id.clone();
    let (path, recorded) = app
        .read(move |store| {
            let record = store.job(&job)?;
            let path = record
                .input_file
                .ok_or_else(|| PageError::NotFound(format!("job `{job}` read no file")))?;
            let recorded = store
                .inputs(&record.run_id)?
                .into_iter()
                .find(|(read, _)| *read == path)
                .map(|(_, sha256)| sha256);
            Ok((path, recorded))
        })
        .await?;
    let shown = crate::text::printable(&path).into_owned();
    let changed = || PageError::NotFound(format!("`{shown}` changed since the run read it"));
    let recorded = recorded.ok_or_else(changed)?;
    let name = super::layout::file_name(&path).to_owned();
    let opened = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        use std::io::Seek;
        let mut file = crate::files::input::open_regular(std::path::Path::new(&path))?;
        let mut hashing = crate::files::input::HashingReader::new(&mut file);
        std::io::copy(&mut hashing, &mut std::io::sink())?;
        let found = hashing.finish();
        file.rewind()?;
        Ok((found, file))
    })
    .await
    .map_err(|error| PageError::Internal(error.to_string()))?;
    let (found, file) = opened.map_err(|_| changed())?;
    if found.as_str() != recorded {
        return Err(changed());
    }
    let (file, length) = measured(file)?;
    streamed(&app, &safe_name(&name), Some(length), move |out| {
        copy_whole(file, length, out)
    })
}
