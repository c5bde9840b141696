//! aircalc NEXT fake over HTTP: the token endpoint and the external API (mounted under
//! `/aircalc`; see the module `auth` for tokens) and the control endpoints
//! (mounted under `/_sim/aircalc`).
//!
//! - `POST /oauth/token`: a client-credentials token (the client's `token_url`);
//! - under `/external` (the client's `base_url`), each with a bearer token:
//!   `GET pos-rows-aggregated/v0` (every project's position rows),
//!   `GET project-by-no/v0/{projectNo}`, `GET project-by-external-ref/v0/{externalRef}`
//!   (the project with its positions and AHU data), `GET ahu-bom-by-pos-no/v0/{posNo}`
//!   and `GET users-by-id/v0?ids=1,2` (the known users among the ids);
//! - errors: 401 `invalid_token`, 404 `Project not found` / `Position not found` /
//!   `Not found`, 400 for `ids` that are no comma-separated integers, all as
//!   `{"error", "status_code"}`.
//!
//! Control endpoints (bad input is a 400 with a message):
//!
//! - `POST mutate` `{"change","add","delete","seed"}` (absolute counts) answers
//!   `{"changed":[…],"added":[…],"deleted":[…]}` with project numbers;
//! - `PUT project` with a project object (`projectNo` required) stores it verbatim,
//!   inserting or replacing, and derives its rows from its positions;
//! - `PUT user` with a user object (an integer `id` required) stores it verbatim:
//!   `users-by-id` serves it for that id instead of (or besides) the fixed users, also
//!   when it is malformed;
//! - `POST expire-tokens`: every token issued so far is invalid from now on.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::auth::Auth;
use super::data::Store;
use super::mutate::{Plan, apply};
use super::units::users;
use crate::shared::{Api, json_error, json_response, ok, route};

/// Where the external API lives under the prefix.
const EXTERNAL: &str = "/external";

/// The fake's state: its client and tokens, and its data.
pub(crate) struct Aircalc {
    auth: Auth,
    store: RwLock<Store>,
    /// Users stored by `PUT user`, by id, served instead of the fixed ones.
    users: RwLock<BTreeMap<i64, Value>>,
}

type Shared = Arc<Aircalc>;

impl Aircalc {
    pub(crate) fn new(auth: Auth, store: Store) -> Shared {
        Arc::new(Aircalc {
            auth,
            store: RwLock::new(store),
            users: RwLock::default(),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The vendor API, mounted under `/aircalc`.
pub(crate) fn api(state: Shared) -> Api {
    let mut routes = Vec::new();
    let mut external = Router::new();
    for (path, handler) in [
        ("/pos-rows-aggregated/v0", get(rows)),
        ("/project-by-no/v0/{projectNo}", get(project_by_no)),
        (
            "/project-by-external-ref/v0/{externalRef}",
            get(project_by_external_ref),
        ),
        ("/ahu-bom-by-pos-no/v0/{posNo}", get(bom)),
        ("/users-by-id/v0", get(users_by_id)),
    ] {
        external = route(external, &mut routes, path, handler);
    }
    for path in &mut routes {
        path.insert_str(0, EXTERNAL);
    }
    let external = external
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "Not found") })
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state.clone());
    let router = route(Router::new(), &mut routes, "/oauth/token", post(token))
        .with_state(state)
        .nest(EXTERNAL, external)
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "Not found") });
    Api {
        prefix: "/aircalc",
        router,
        routes,
    }
}

/// The control endpoints, to be nested under `/_sim/aircalc`.
pub(crate) fn control_router(state: Shared) -> Router {
    Router::new()
        .route("/mutate", post(mutate))
        .route("/truth", get(truth))
        .route("/project", put(put_project))
        .route("/user", put(put_user))
        .route("/expire-tokens", post(expire_tokens))
        .with_state(state)
}

async fn token(State(aircalc): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    aircalc.auth.grant(&headers, &body)
}

async fn require_token(State(aircalc): State<Shared>, request: Request, next: Next) -> Response {
    match aircalc.auth.rejection(request.headers()) {
        Some(response) => response,
        None => next.run(request).await,
    }
}

async fn rows(State(aircalc): State<Shared>) -> Response {
    let body = aircalc.read().rows();
    json_response(body)
}

fn project_or_404(project: Option<&Bytes>) -> Response {
    match project {
        Some(project) => json_response(project.clone()),
        None => json_error(StatusCode::NOT_FOUND, "Project not found"),
    }
}

async fn project_by_no(State(aircalc): State<Shared>, Path(no): Path<String>) -> Response {
    project_or_404(aircalc.read().project(&no))
}

async fn project_by_external_ref(
    State(aircalc): State<Shared>,
    Path(external_ref): Path<String>,
) -> Response {
    project_or_404(aircalc.read().by_external_ref(&external_ref))
}

async fn bom(State(aircalc): State<Shared>, Path(pos_no): Path<String>) -> Response {
    match aircalc.read().bom(&pos_no) {
        Some(bom) => json_response(bom),
        None => json_error(StatusCode::NOT_FOUND, "Position not found"),
    }
}

#[derive(Deserialize)]
struct UsersQuery {
    ids: Option<String>,
}

async fn users_by_id(State(aircalc): State<Shared>, Query(query): Query<UsersQuery>) -> Response {
    let ids = query.ids.unwrap_or_default();
    let ids: Result<Vec<i64>, _> = ids
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::parse)
        .collect();
    match ids {
        Ok(mut ids) => {
            ids.sort_unstable();
            ids.dedup();
            let stored = aircalc.users.read().unwrap_or_else(PoisonError::into_inner);
            let found: Vec<Value> = ids
                .iter()
                .flat_map(|id| match stored.get(id) {
                    Some(user) => vec![user.clone()],
                    None => users(&[*id])
                        .iter()
                        .map(|user| serde_json::to_value(user).expect("users are plain JSON"))
                        .collect(),
                })
                .collect();
            Json(found).into_response()
        }
        Err(_) => json_error(
            StatusCode::BAD_REQUEST,
            "ids must be comma-separated integers",
        ),
    }
}

async fn mutate(State(aircalc): State<Shared>, body: Bytes) -> Response {
    match Plan::parse(&body) {
        Ok(plan) => Json(apply(&mut aircalc.write(), &plan)).into_response(),
        Err(message) => json_error(StatusCode::BAD_REQUEST, &message),
    }
}

async fn put_project(State(aircalc): State<Shared>, body: Bytes) -> Response {
    match aircalc.write().insert(body) {
        Ok(_) => ok(),
        Err(message) => json_error(StatusCode::BAD_REQUEST, &message),
    }
}

async fn put_user(State(aircalc): State<Shared>, body: Bytes) -> Response {
    let user: Value = match serde_json::from_slice(&body) {
        Ok(user) => user,
        Err(err) => return json_error(StatusCode::BAD_REQUEST, &format!("invalid JSON: {err}")),
    };
    let Some(id) = user.get("id").and_then(Value::as_i64) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            r#"a user must be a JSON object with an integer "id""#,
        );
    };
    aircalc
        .users
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, user);
    ok()
}

async fn expire_tokens(State(aircalc): State<Shared>) -> Response {
    aircalc.auth.expire_all();
    ok()
}

/// `GET /_sim/aircalc/truth`: every project as project-by-no answers it, and the rows
/// pos-rows-aggregated lists, for tests that compare a database with them:
/// `{"projects": [...], "rows": [...]}`.
async fn truth(State(aircalc): State<Shared>) -> Response {
    let store = aircalc.read();
    let projects: Vec<Value> = store
        .numbers()
        .iter()
        .filter_map(|no| store.project(no))
        .filter_map(|body| serde_json::from_slice(body).ok())
        .collect();
    let rows: Value = serde_json::from_slice(&store.rows()).expect("the rows are JSON");
    Json(serde_json::json!({ "projects": projects, "rows": rows })).into_response()
}
