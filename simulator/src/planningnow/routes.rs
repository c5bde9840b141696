//! PlanningNow fake over HTTP: the REST API (mounted under `/planningnow`, guarded by
//! `X-AUTH-TOKEN`; listings streamed from a snapshot of the store) and its control
//! endpoints (mounted under `/_sim/planningnow`: mutate, put, delete, folder tree).

use std::convert::Infallible;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::data::Store;
use super::model::Kind;
use super::mutate::{Plan, apply};
use crate::shared::{Api, json_error, json_response, ok, route};

/// Listings are sent in chunks of about this many bytes.
const CHUNK: usize = 64 * 1024;

/// The fake's state: the token it accepts and its data.
pub(crate) struct PlanningNow {
    token: String,
    store: RwLock<Store>,
}

type Shared = Arc<PlanningNow>;

impl PlanningNow {
    pub(crate) fn new(token: String, store: Store) -> Shared {
        Arc::new(PlanningNow {
            token,
            store: RwLock::new(store),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current objects of `kind`, cheap to take (the bytes are shared, not copied).
    fn snapshot(&self, kind: Kind) -> Vec<Bytes> {
        self.read().objects(kind).values().cloned().collect()
    }
}

/// The vendor API, mounted under `/planningnow`.
pub(crate) fn api(state: Shared) -> Api {
    let mut routes = Vec::new();
    let mut router = Router::new();
    router = route(router, &mut routes, "/api/test", get(test));
    for kind in [
        Kind::Order,
        Kind::Offer,
        Kind::WorkSchedule,
        Kind::CostCentre,
    ] {
        let all_of_kind = move |State(pn): State<Shared>| async move { list(&pn, kind) };
        let one_of_kind = move |State(pn): State<Shared>, Path(id): Path<String>| async move {
            one(&pn, kind, &id)
        };
        let path = format!("/api/{}", kind.name());
        router = route(router, &mut routes, &path, get(all_of_kind));
        router = route(
            router,
            &mut routes,
            &format!("{path}/{{id}}"),
            get(one_of_kind),
        );
    }
    router = route(router, &mut routes, "/api/documents", get(documents));
    router = route(
        router,
        &mut routes,
        "/api/documents/structure",
        get(structure),
    );
    let router = router
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "Not found") })
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state);
    Api {
        prefix: "/planningnow",
        router,
        routes,
    }
}

/// The control endpoints, to be nested under `/_sim/planningnow`.
pub(crate) fn control_router(state: Shared) -> Router {
    Router::new()
        .route("/mutate", post(mutate))
        .route("/document-structure", put(replace_tree))
        .route("/{kind}", put(put_object))
        .route("/{kind}/{id}", delete(delete_object))
        .with_state(state)
}

async fn require_token(State(pn): State<Shared>, request: Request, next: Next) -> Response {
    let token = request.headers().get("x-auth-token");
    if token.is_some_and(|token| token.as_bytes() == pn.token.as_bytes()) {
        next.run(request).await
    } else {
        json_error(StatusCode::UNAUTHORIZED, "Invalid API token")
    }
}

async fn test() -> Response {
    json_response(Bytes::from_static(br#"{"response": "Test successfull."}"#))
}

fn list(pn: &PlanningNow, kind: Kind) -> Response {
    let items = pn.snapshot(kind);
    stream_json(Bytes::from_static(b"["), items, Bytes::from_static(b"]"))
}

fn one(pn: &PlanningNow, kind: Kind, id: &str) -> Response {
    let found = id
        .parse::<i64>()
        .ok()
        .and_then(|id| pn.read().objects(kind).get(&id).cloned());
    match found {
        Some(object) => json_response(object),
        None => json_error(StatusCode::NOT_FOUND, kind.not_found()),
    }
}

/// Streams `prefix`, the items joined by commas, then `suffix`.
fn stream_json(prefix: Bytes, items: Vec<Bytes>, suffix: Bytes) -> Response {
    let chunks = Chunks {
        prefix: Some(prefix),
        items: items.into_iter(),
        suffix: Some(suffix),
        first: true,
    };
    json_response(Body::from_stream(futures_util::stream::iter(chunks)))
}

/// Lazily joins items into chunks of about [`CHUNK`] bytes.
struct Chunks {
    prefix: Option<Bytes>,
    items: std::vec::IntoIter<Bytes>,
    suffix: Option<Bytes>,
    first: bool,
}

impl Iterator for Chunks {
    type Item = Result<Bytes, Infallible>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut chunk = BytesMut::with_capacity(CHUNK + 1024);
        if let Some(prefix) = self.prefix.take() {
            chunk.extend_from_slice(&prefix);
        }
        while chunk.len() < CHUNK {
            let Some(item) = self.items.next() else {
                if let Some(suffix) = self.suffix.take() {
                    chunk.extend_from_slice(&suffix);
                }
                break;
            };
            if !self.first {
                chunk.extend_from_slice(b",");
            }
            self.first = false;
            chunk.extend_from_slice(&item);
        }
        (!chunk.is_empty()).then(|| Ok(chunk.freeze()))
    }
}

#[derive(Deserialize)]
struct DocumentQuery {
    area: Option<String>,
    number: Option<String>,
    folder_id: Option<String>,
}

/// The fields documents are filtered on, in whatever shape they are stored.
#[derive(Deserialize)]
struct DocumentKeys {
    area: Option<Value>,
    number: Option<Value>,
    folder_id: Option<Value>,
}

fn matches(value: Option<&Value>, wanted: Option<&str>) -> bool {
    match (value, wanted) {
        (_, None) => true,
        (Some(Value::String(s)), Some(wanted)) => s == wanted,
        (Some(Value::Number(n)), Some(wanted)) => n.to_string() == wanted,
        _ => false,
    }
}

async fn documents(State(pn): State<Shared>, Query(query): Query<DocumentQuery>) -> Response {
    fn given(value: &Option<String>) -> Option<&str> {
        value.as_deref().filter(|value| !value.is_empty())
    }
    let (area, number, folder) = (
        given(&query.area),
        given(&query.number),
        given(&query.folder_id),
    );
    let mut items = pn.snapshot(Kind::Document);
    if area.is_some() || number.is_some() || folder.is_some() {
        items.retain(|document| {
            serde_json::from_slice::<DocumentKeys>(document).is_ok_and(|keys| {
                matches(keys.area.as_ref(), area)
                    && matches(keys.number.as_ref(), number)
                    && matches(keys.folder_id.as_ref(), folder)
            })
        });
    }
    let suffix = format!(r#"],"count":{},"status_code":200}}"#, items.len());
    stream_json(
        Bytes::from_static(br#"{"success":true,"documents":["#),
        items,
        Bytes::from(suffix),
    )
}

#[derive(Deserialize)]
struct AreaQuery {
    area: Option<String>,
}

#[derive(Deserialize)]
struct Tree {
    tree: Vec<Value>,
}

#[derive(Serialize)]
struct TreeResponse {
    tree: Vec<Value>,
    status_code: u16,
}

async fn structure(State(pn): State<Shared>, Query(query): Query<AreaQuery>) -> Response {
    let mut tree = pn.read().tree.clone();
    if let Some(area) = query.area.filter(|area| !area.is_empty()) {
        tree.retain(|node| node.get("area").and_then(Value::as_str) == Some(area.as_str()));
    }
    let body = TreeResponse {
        tree,
        status_code: 200,
    };
    axum::Json(body).into_response()
}

fn unknown_kind(name: &str) -> Response {
    let known: Vec<&str> = Kind::ALL.iter().map(|kind| kind.name()).collect();
    let message = format!("unknown kind {name:?}; known: {}", known.join(", "));
    json_error(StatusCode::BAD_REQUEST, &message)
}

async fn mutate(State(pn): State<Shared>, body: Bytes) -> Response {
    match Plan::parse(&body) {
        Ok(plan) => {
            let report = apply(&mut pn.write(), &plan);
            axum::Json(report).into_response()
        }
        Err(message) => json_error(StatusCode::BAD_REQUEST, &message),
    }
}

async fn put_object(State(pn): State<Shared>, Path(name): Path<String>, body: Bytes) -> Response {
    let Some(kind) = Kind::parse(&name) else {
        return unknown_kind(&name);
    };
    let id = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(object)) => object.get("id").and_then(Value::as_i64),
        Ok(_) => return json_error(StatusCode::BAD_REQUEST, "body must be a JSON object"),
        Err(err) => return json_error(StatusCode::BAD_REQUEST, &format!("invalid JSON: {err}")),
    };
    let Some(id) = id else {
        return json_error(StatusCode::BAD_REQUEST, r#""id" must be an integer"#);
    };
    pn.write().objects_mut(kind).insert(id, body);
    ok()
}

async fn delete_object(
    State(pn): State<Shared>,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    let Some(kind) = Kind::parse(&name) else {
        return unknown_kind(&name);
    };
    let Ok(id) = id.parse::<i64>() else {
        return json_error(StatusCode::BAD_REQUEST, "id must be an integer");
    };
    match pn.write().objects_mut(kind).remove(&id) {
        Some(_) => ok(),
        None => json_error(StatusCode::NOT_FOUND, kind.not_found()),
    }
}

async fn replace_tree(State(pn): State<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<Tree>(&body) {
        Ok(Tree { tree }) => {
            pn.write().tree = tree;
            ok()
        }
        Err(err) => json_error(
            StatusCode::BAD_REQUEST,
            &format!(r#"body must be {{"tree":[...]}}: {err}"#),
        ),
    }
}
