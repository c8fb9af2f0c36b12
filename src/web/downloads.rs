//! A job's files as downloads, streamed: a blocking thread reads the file a
//! block at a time into a small channel the response drains, so a
//! 1,000,000-row result goes out without being held in memory. A file that
//! fails half-way ends the response with an error, never a short file that
//! looks whole.

use std::io::Write;

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

/// Hands what it is given to the response, a block at a time.
struct ToResponse {
    sender: mpsc::Sender<std::io::Result<Bytes>>,
    block: Vec<u8>,
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
        self.sender.blocking_send(Ok(block)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the download was abandoned")
        })
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

/// A response whose body `produce` writes on a blocking thread.
fn streamed<F>(name: &str, produce: F) -> Response
where
    F: FnOnce(&mut ToResponse) -> std::io::Result<()> + Send + 'static,
{
    let (sender, receiver) = mpsc::channel(WAITING);
    tokio::task::spawn_blocking(move || {
        let mut out = ToResponse {
            sender: sender.clone(),
            block: Vec::with_capacity(BLOCK),
        };
        if let Err(error) = produce(&mut out).and_then(|()| out.flush())
            && error.kind() != std::io::ErrorKind::BrokenPipe
        {
            tracing::warn!(error = %error, "a download failed half-way");
            let _ = sender.blocking_send(Err(error));
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
    // The name is bulkops' own (a job id and a word), never a display name.
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
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

/// `GET /jobs/{id}/results.csv`: the job's result file as written.
pub(super) async fn results(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let job = id.clone();
    let file = app
        .read(move |store| {
            let record = results_of(store, &job)?
                .ok_or_else(|| PageError::NotFound(format!("job `{job}` wrote no result file")))?;
            open_file(store, &job, &record)
        })
        .await?;
    Ok(streamed(
        &safe_name(&format!("{id}-results.csv")),
        move |out| {
            let mut file = file;
            std::io::copy(&mut file, out).map(|_| ())
        },
    ))
}

/// `GET /jobs/{id}/failed-rows.csv`: the rows that failed, in the input's
/// columns, ready to be given back to the step.
pub(super) async fn failed_rows(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let job = id.clone();
    let file = app
        .read(move |store| {
            let record = results_of(store, &job)?
                .ok_or_else(|| PageError::NotFound(format!("job `{job}` wrote no result file")))?;
            open_file(store, &job, &record)
        })
        .await?;
    Ok(streamed(
        &safe_name(&format!("{id}-failed-rows.csv")),
        move |out| result_file::write_failed_rows(file, out).map(|_| ()),
    ))
}

/// `GET /jobs/{id}/files/{index}`: a file the job wrote, by its place in the
/// job's list of files.
pub(super) async fn file(
    State(app): State<App>,
    Path((id, index)): Path<(String, usize)>,
) -> Result<Response, PageError> {
    let job = id.clone();
    let (file, name) = app
        .read(move |store| {
            let record =
                store.files(&job)?.into_iter().nth(index).ok_or_else(|| {
                    PageError::NotFound(format!("job `{job}` has no file {index}"))
                })?;
            let name = super::layout::file_name(&record.path).to_owned();
            Ok((open_file(store, &job, &record)?, name))
        })
        .await?;
    Ok(streamed(&safe_name(&name), move |out| {
        let mut file = file;
        std::io::copy(&mut file, out).map(|_| ())
    }))
}

/// `GET /jobs/{id}/input`: the file the job read, as it is now (a regular
/// file only).
pub(super) async fn input(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let job = id.clone();
    let (file, name) = app
        .read(move |store| {
            let record = store.job(&job)?;
            let run = store.run(&record.run_id)?;
            let path = record
                .input_file
                .ok_or_else(|| PageError::NotFound(format!("job `{job}` read no file")))?;
            // Inputs are named as the manifest names them, from where it ran.
            let path = match run.input_base.as_deref() {
                Some(base) => std::path::Path::new(base).join(&path).display().to_string(),
                None => path,
            };
            let name = super::layout::file_name(&path).to_owned();
            let file = crate::files::input::open_regular(std::path::Path::new(&path)).map_err(
                |error| {
                    PageError::NotFound(format!("`{}`: {error}", crate::text::printable(&path)))
                },
            )?;
            Ok((file, name))
        })
        .await?;
    Ok(streamed(&safe_name(&name), move |out| {
        let mut file = file;
        std::io::copy(&mut file, out).map(|_| ())
    }))
}
