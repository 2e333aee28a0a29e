//! The do-nothing baseline of the load figures: the same Connect door, the same routes and the
//! same decoding, with handlers that keep nothing (no table, no store, no writer). What a
//! controller costs above it is the table, the store and the rules.

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use iris_task::today::cluster::controller as c;

use crate::door;

/// The baseline's routes.
pub fn router() -> Router {
    Router::new().route("/iris.cluster.ControllerService/{method}", post(controller))
}

async fn controller(Path(method): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let cap = (std::time::Duration::from_secs(10), 64 << 20);
    match method.as_str() {
        "Register" => {
            door::unary(
                &headers,
                body,
                cap,
                |request: c::RegisterRequest| async move {
                    Ok(c::RegisterResponse {
                        worker_id: request.worker_id,
                        accepted: Some(true),
                    })
                },
            )
            .await
        }
        "LaunchJob" => {
            door::unary(
                &headers,
                body,
                cap,
                |request: c::LaunchJobRequest| async move {
                    Ok(c::LaunchJobResponse {
                        job_id: request.name,
                    })
                },
            )
            .await
        }
        "GetJobState" => {
            door::unary(&headers, body, cap, |_: c::GetJobStateRequest| async {
                Ok(c::GetJobStateResponse::default())
            })
            .await
        }
        _ => door::unimplemented(&format!("ControllerService/{method}")),
    }
}
