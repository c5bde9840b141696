//! Aimsio fake over HTTP: the REST API (mounted under `/aimsio`, guarded by Basic auth)
//! and its control endpoints (mounted under `/_sim/aimsio`: mutate, vanish, stale,
//! forbidden).
//!
//! - `GET /rest/api/standard/v1/{entity}`: `[{"dtype", "guid" (or "id" for Employee and
//!   Timecard), "updatedAt"}]`, ordered by guid;
//! - `GET /rest/api/standard/v1/{entity}/{guid}`: the stored detail;
//! - errors: 401 `Unauthorized`, 403 `Forbidden` (entities the account may not read),
//!   404 `Unknown entity` / `Not found`, all as `{"error", "status_code"}`.
//!
//! Control endpoints (bad input is a 400 with a message):
//!
//! - `POST mutate` `{"entity","change","add","delete","seed"}` (absolute counts, capped at
//!   what there is; every entity when `entity` is absent) answers
//!   `{"<Entity>":{"changed":[…],"added":[…],"deleted":[…]}}` with the guids (or ids);
//! - `POST vanish` `{"entity","guid"}` (or `"id"`): the object stays listed, its detail
//!   answers 404;
//! - `POST stale` `{"entity","guid","detail_updated_at"}`: the detail becomes newer than
//!   its list entry (`<prefix>UpdatedAt` and a ` [rev <ms>]` text mark);
//! - `PUT forbidden` `["Invoice", …]`: these entities answer 403 (`[]` clears);
//! - `POST reshape/{entity}` `{"set":{…},"unset":[…],"stringify":[…],"keys":[…]}`: every
//!   object of the entity (or those of `keys`) gets fields set, removed, or its numbers
//!   served as strings, and is stamped later (a vendor's new version, for the field
//!   catalogue's tests).

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::data::{Entity, Store};
use super::mutate::{Plan, Refusal, Reshape, apply, entity, reshape, stale, vanish};
use crate::basic_auth::basic_credentials;
use crate::shared::{Api, json_error, json_response, ok, route};

/// The fake's state: the credentials it accepts (`user:password`) and its data.
pub(crate) struct Aimsio {
    credentials: Vec<u8>,
    store: RwLock<Store>,
}

type Shared = Arc<Aimsio>;

impl Aimsio {
    pub(crate) fn new(username: &str, password: &str, store: Store) -> Shared {
        Arc::new(Aimsio {
            credentials: format!("{username}:{password}").into_bytes(),
            store: RwLock::new(store),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The vendor API, mounted under `/aimsio`.
pub(crate) fn api(state: Shared) -> Api {
    let mut routes = Vec::new();
    let mut router = Router::new();
    let base = "/rest/api/standard/v1/{entity}";
    router = route(router, &mut routes, base, get(list));
    router = route(
        router,
        &mut routes,
        &format!("{base}/{{guid}}"),
        get(detail),
    );
    let router = router
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "Not found") })
        .layer(middleware::from_fn_with_state(state.clone(), require_auth))
        .with_state(state);
    Api {
        prefix: "/aimsio",
        router,
        routes,
    }
}

/// The control endpoints, to be nested under `/_sim/aimsio`.
pub(crate) fn control_router(state: Shared) -> Router {
    Router::new()
        .route("/mutate", post(mutate))
        .route("/vanish", post(vanish_detail))
        .route("/stale", post(stale_detail))
        .route("/forbidden", put(forbid))
        .route("/truth", get(truth))
        .route("/detail/{entity}/{key}", put(put_detail))
        .route("/reshape/{entity}", post(reshape_entity))
        .with_state(state)
}

async fn require_auth(State(aimsio): State<Shared>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(basic_credentials);
    if given.is_some_and(|given| given == aimsio.credentials) {
        next.run(request).await
    } else {
        let mut response = json_error(StatusCode::UNAUTHORIZED, "Unauthorized");
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="Aimsio""#),
        );
        response
    }
}

/// The entity named `name`, if the account may read it; else the error to answer.
fn readable(store: &Store, name: &str) -> Result<Entity, (StatusCode, &'static str)> {
    let entity = Entity::parse(name).ok_or((StatusCode::NOT_FOUND, "Unknown entity"))?;
    if store.forbidden.contains(&entity) {
        return Err((StatusCode::FORBIDDEN, "Forbidden"));
    }
    Ok(entity)
}

#[derive(Serialize)]
struct ListItem<'a> {
    dtype: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    guid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "updatedAt")]
    updated_at: i64,
}

async fn list(State(aimsio): State<Shared>, Path(name): Path<String>) -> Response {
    let store = aimsio.read();
    let entity = match readable(&store, &name) {
        Ok(entity) => entity,
        Err((status, message)) => return json_error(status, message),
    };
    let by_id = entity.key() == "id";
    let items: Vec<ListItem> = store
        .objects(entity)
        .iter()
        .map(|(key, object)| ListItem {
            dtype: entity.name(),
            guid: (!by_id).then_some(key.as_str()),
            id: by_id.then_some(key.as_str()),
            updated_at: object.updated_at,
        })
        .collect();
    Json(items).into_response()
}

async fn detail(
    State(aimsio): State<Shared>,
    Path((name, key)): Path<(String, String)>,
) -> Response {
    let store = aimsio.read();
    let entity = match readable(&store, &name) {
        Ok(entity) => entity,
        Err((status, message)) => return json_error(status, message),
    };
    match store
        .objects(entity)
        .get(&key)
        .and_then(|o| o.detail.clone())
    {
        Some(detail) => json_response(detail),
        None => json_error(StatusCode::NOT_FOUND, "Not found"),
    }
}

fn bad_request(message: &str) -> Response {
    json_error(StatusCode::BAD_REQUEST, message)
}

/// `body` as a `T`, or the message of a 400 answer naming what was expected.
fn parse<T: DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|err| format!("body must be {expected}: {err}"))
}

async fn mutate(State(aimsio): State<Shared>, body: Bytes) -> Response {
    match Plan::parse(&body) {
        Ok(plan) => Json(apply(&mut aimsio.write(), &plan)).into_response(),
        Err(message) => bad_request(&message),
    }
}

/// The body of `vanish` and `stale`: one object of one entity.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    entity: String,
    #[serde(alias = "id")]
    guid: String,
    detail_updated_at: Option<i64>,
}

/// Applies `operation` to the object the body names.
fn on_target(
    aimsio: &Aimsio,
    target: Target,
    operation: impl FnOnce(&mut Store, Entity, &str) -> Result<(), Refusal>,
) -> Response {
    let entity = match entity(&target.entity) {
        Ok(entity) => entity,
        Err(message) => return bad_request(&message),
    };
    match operation(&mut aimsio.write(), entity, &target.guid) {
        Ok(()) => ok(),
        Err(Refusal::NotFound) => json_error(StatusCode::NOT_FOUND, "Not found"),
        Err(Refusal::Invalid(message)) => bad_request(&message),
    }
}

async fn vanish_detail(State(aimsio): State<Shared>, body: Bytes) -> Response {
    match parse::<Target>(&body, r#"{"entity","guid"}"#) {
        Ok(target) if target.detail_updated_at.is_some() => {
            bad_request("detail_updated_at belongs to stale")
        }
        Ok(target) => on_target(&aimsio, target, vanish),
        Err(message) => bad_request(&message),
    }
}

async fn stale_detail(State(aimsio): State<Shared>, body: Bytes) -> Response {
    let expected = r#"{"entity","guid","detail_updated_at"}"#;
    match parse::<Target>(&body, expected) {
        Ok(target) => match target.detail_updated_at {
            Some(at) => on_target(&aimsio, target, |store, entity, key| {
                stale(store, entity, key, at)
            }),
            None => bad_request("detail_updated_at (epoch milliseconds) is required"),
        },
        Err(message) => bad_request(&message),
    }
}

/// `PUT /_sim/aimsio/detail/{entity}/{key}`: the object's detail becomes the body exactly
/// as sent, bytes that are no valid JSON included (a hostile vendor).
async fn put_detail(
    State(aimsio): State<Shared>,
    Path((name, key)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Some(entity) = Entity::parse(&name) else {
        return json_error(StatusCode::NOT_FOUND, "Unknown entity");
    };
    match aimsio.write().objects_mut(entity).get_mut(&key) {
        Some(object) => {
            object.detail = Some(body);
            ok()
        }
        None => json_error(StatusCode::NOT_FOUND, "Not found"),
    }
}

/// `POST /_sim/aimsio/reshape/{entity}` `{"set": {field: value}, "unset": [field],
/// "stringify": [field], "keys": [key]}`: every object of the entity (or those of `keys`)
/// changes shape (a vendor's new version) and is stamped later; answers
/// `{"changed": [keys]}`.
async fn reshape_entity(
    State(aimsio): State<Shared>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let entity = match entity(&name) {
        Ok(entity) => entity,
        Err(message) => return bad_request(&message),
    };
    match parse::<Reshape>(&body, r#"{"set","unset","stringify","keys"}"#) {
        Ok(plan) => {
            let changed = reshape(&mut aimsio.write(), entity, &plan);
            Json(serde_json::json!({ "changed": changed })).into_response()
        }
        Err(message) => bad_request(&message),
    }
}

async fn forbid(State(aimsio): State<Shared>, body: Bytes) -> Response {
    let names = match parse::<Vec<String>>(&body, "an array of entity names") {
        Ok(names) => names,
        Err(message) => return bad_request(&message),
    };
    match names.iter().map(|name| entity(name)).collect() {
        Ok(entities) => {
            aimsio.write().forbidden = entities;
            ok()
        }
        Err(message) => bad_request(&message),
    }
}

/// `GET /_sim/aimsio/truth`: every object of every entity as the store holds it, for tests
/// that compare a database with it: `{"<Entity>": [{"key", "updatedAt", "detail"}]}`
/// (`detail` is `null` while it answers 404).
async fn truth(State(aimsio): State<Shared>) -> Response {
    let store = aimsio.read();
    let all: serde_json::Map<String, serde_json::Value> = Entity::ALL
        .into_iter()
        .map(|entity| {
            let objects = store
                .objects(entity)
                .iter()
                .map(|(key, object)| {
                    let detail = object
                        .detail
                        .as_ref()
                        .and_then(|d| serde_json::from_slice(d).ok())
                        .unwrap_or(serde_json::Value::Null);
                    serde_json::json!({"key": key, "updatedAt": object.updated_at, "detail": detail})
                })
                .collect();
            (entity.name().to_owned(), serde_json::Value::Array(objects))
        })
        .collect();
    Json(all).into_response()
}
