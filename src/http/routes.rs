//! Every route of the API in one table, and the router built from it. The OpenAPI
//! document ([`super::openapi()`]) describes the same table; a test holds the two equal.

use axum::handler::Handler;
use axum::middleware;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use tower::ServiceBuilder;

use super::error::ApiError;
use super::error_shape::ErrorShapeLayer;
use super::timeout::RequestTimeoutLayer;
use super::{
    actions, auth, badges, channels, health, healthchecks, jobs, metrics, openapi, ping, probes,
    rate_limit, AppState,
};
use super::{MAX_BODY_BYTES, REQUEST_TIMEOUT};

/// The method of a route. A `GET` route also answers `HEAD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

impl Verb {
    /// The method's name in lower case, as OpenAPI spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Put => "put",
            Verb::Delete => "delete",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Delete => MethodFilter::DELETE,
        }
    }
}

/// Who may call a route (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Anyone (`/ping` asks for the ping token itself when `--ping-token` is set).
    Open,
    /// With the admin token, when `--admin-token` is set; the dashboard's session
    /// cookie stands for it (with a CSRF token on anything but `GET`).
    Admin,
    /// A dashboard page or form (SPEC §15): with a session or the admin token when
    /// `--admin-token` is set (a page without one is sent to the sign-in page); a post
    /// always needs the page's CSRF token and this same origin.
    Page,
}

/// One route: a method on a path template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    pub verb: Verb,
    /// The path as axum and OpenAPI both write it, e.g. `/ping/{name}`.
    pub path: &'static str,
    pub access: Access,
}

/// A route and its handler.
struct Endpoint {
    route: Route,
    /// The router's pattern, the route's path unless the router cannot match it.
    pattern: &'static str,
    /// `None` when the handler of another endpoint with the same pattern and verb
    /// serves this route too.
    handler: Option<MethodRouter<AppState>>,
}

fn endpoint<H, T>(verb: Verb, path: &'static str, access: Access, handler: H) -> Endpoint
where
    H: Handler<T, AppState>,
    T: 'static,
{
    Endpoint {
        route: Route { verb, path, access },
        pattern: path,
        handler: Some(on(verb.filter(), handler)),
    }
}

impl Endpoint {
    /// Served at the router's `pattern` instead of its path: the router cannot match
    /// a suffix after a parameter (`/badge/{name}.svg`).
    fn at(self, pattern: &'static str) -> Self {
        Self { pattern, ..self }
    }

    /// Served by the endpoint before it, whose handler has the same pattern and verb
    /// and tells the two apart itself.
    fn by_the_one_before(self) -> Self {
        Self {
            handler: None,
            ..self
        }
    }
}

/// The table the router is built from.
fn endpoints() -> Vec<Endpoint> {
    use crate::dashboard::{assets, health_page, job_page, jobs_page, performance_page, sign_in};
    use Access::{Admin, Open, Page};
    use Verb::{Delete, Get, Post, Put};
    let badge = |path| endpoint(Get, path, Open, badges::badge).at(badges::ROUTE);
    vec![
        endpoint(Get, "/ping", Open, ping::get_ping),
        endpoint(Post, "/ping", Open, ping::post_ping),
        endpoint(Delete, "/ping", Admin, jobs::delete_job_by_query),
        endpoint(Post, "/ping/remove", Admin, jobs::remove_job_by_query),
        // The remove endpoint's path is also the job named `remove`.
        endpoint(Get, "/ping/remove", Admin, jobs::get_job_named_remove),
        endpoint(Delete, "/ping/remove", Admin, jobs::delete_job_named_remove),
        endpoint(Get, "/ping/{name}", Admin, jobs::get_job),
        // `/ping/remove/events` is the history of the job named `remove`.
        endpoint(Get, "/ping/{name}/events", Admin, jobs::job_events),
        endpoint(Delete, "/ping/{name}", Admin, jobs::delete_job),
        endpoint(Post, "/ping/{name}/pause", Admin, actions::pause_job),
        endpoint(Post, "/ping/{name}/resume", Admin, actions::resume_job),
        endpoint(Post, "/ping/{name}/ack", Admin, actions::ack_job),
        endpoint(Get, "/pings", Admin, jobs::list_jobs),
        // Healthchecks' ping API by slug; the key is checked by the handlers. The
        // fixed last segments win over `{exit_code}`.
        endpoint(Get, "/hc/{key}/{slug}", Open, healthchecks::get_success),
        endpoint(Post, "/hc/{key}/{slug}", Open, healthchecks::post_success),
        endpoint(Get, "/hc/{key}/{slug}/start", Open, healthchecks::get_start),
        endpoint(
            Post,
            "/hc/{key}/{slug}/start",
            Open,
            healthchecks::post_start,
        ),
        endpoint(Get, "/hc/{key}/{slug}/fail", Open, healthchecks::get_fail),
        endpoint(Post, "/hc/{key}/{slug}/fail", Open, healthchecks::post_fail),
        endpoint(Get, "/hc/{key}/{slug}/log", Open, healthchecks::get_log),
        endpoint(Post, "/hc/{key}/{slug}/log", Open, healthchecks::post_log),
        endpoint(
            Get,
            "/hc/{key}/{slug}/{exit_code}",
            Open,
            healthchecks::get_exit_code,
        ),
        endpoint(
            Post,
            "/hc/{key}/{slug}/{exit_code}",
            Open,
            healthchecks::post_exit_code,
        ),
        endpoint(Get, "/livez", Open, probes::livez),
        endpoint(Get, "/readyz", Open, probes::readyz),
        endpoint(Get, "/health", Open, health::health),
        endpoint(Get, "/openapi.json", Open, openapi::document),
        endpoint(Get, "/channels", Admin, channels::list_channels),
        endpoint(Post, "/channels/test", Admin, channels::test_channels),
        endpoint(Get, "/metrics", Admin, metrics::prometheus),
        endpoint(Get, "/metrics/performance", Admin, metrics::performance),
        endpoint(Get, "/metrics/performance/config", Admin, metrics::config),
        endpoint(
            Put,
            "/metrics/performance/config",
            Admin,
            metrics::update_config,
        ),
        // Open: the handler answers 404 without --public-badges.
        badge("/badge/{name}.svg"),
        badge("/badge/{name}.json").by_the_one_before(),
        // The dashboard (SPEC §15).
        endpoint(Get, "/", Page, jobs_page::page),
        endpoint(Get, "/ui/job", Page, job_page::page),
        endpoint(Post, "/ui/job/pause", Page, job_page::pause),
        endpoint(Post, "/ui/job/resume", Page, job_page::resume),
        endpoint(Post, "/ui/job/ack", Page, job_page::ack),
        endpoint(Post, "/ui/job/delete", Page, job_page::delete),
        endpoint(Get, "/ui/health", Page, health_page::page),
        endpoint(Get, "/ui/performance", Page, performance_page::page),
        endpoint(Post, "/ui/performance/config", Page, performance_page::save),
        endpoint(Get, "/ui/sign-in", Open, sign_in::form),
        endpoint(Post, "/ui/sign-in", Open, sign_in::sign_in),
        endpoint(Post, "/ui/sign-out", Page, sign_in::sign_out),
        endpoint(Get, "/ui/assets/{file}", Open, assets::asset),
    ]
}

/// Every route the router serves, from the table it is built from.
pub fn routes() -> Vec<Route> {
    endpoints().into_iter().map(|e| e.route).collect()
}

/// The router of every route, with its limits and error shapes.
pub fn router(state: AppState) -> Router {
    let timing = state.perf.layer();
    let limiter = state.rate_limiter.clone();
    let mut routes = Router::new();
    for Endpoint {
        route,
        pattern,
        handler,
    } in endpoints()
    {
        let Some(handler) = handler else {
            continue;
        };
        let handler = match route.access {
            Access::Open => handler,
            Access::Admin => handler.route_layer(middleware::from_fn_with_state(
                state.clone(),
                auth::require_admin,
            )),
            Access::Page => handler.route_layer(middleware::from_fn_with_state(
                state.clone(),
                auth::require_page,
            )),
        };
        // Methods of one path are merged into one method router.
        routes = routes.route(pattern, handler);
    }
    let routes = routes
        .fallback(|| async { ApiError::not_found("not found") })
        // After every route is added: it applies to the routes there are.
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state);
    // Innermost of the layers below, so that a 429 is timed and shaped like any other
    // error; without --rate-limit the middleware is not there at all.
    let routes = match limiter {
        Some(limiter) => routes.layer(middleware::from_fn_with_state(limiter, rate_limit::limit)),
        None => routes,
    };
    routes
        // Outermost first. The error shape wraps the timeout and the body limit, so
        // their errors take the client's format too. The timing layer is outside them
        // all, so it sees every final status (414, 413, 408 included); these layers run
        // per route, after routing, so it knows the route template.
        .layer(
            ServiceBuilder::new()
                .layer(timing)
                .layer(ErrorShapeLayer)
                .layer(RequestTimeoutLayer::new(REQUEST_TIMEOUT))
                .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_without_a_handler_is_served_by_the_one_before() {
        let table = endpoints();
        for pair in table.windows(2) {
            let [before, served] = pair else { continue };
            if served.handler.is_none() {
                assert!(before.handler.is_some(), "{:?}", served.route);
                assert_eq!(before.pattern, served.pattern, "{:?}", served.route);
                assert_eq!(before.route.verb, served.route.verb, "{:?}", served.route);
                assert_eq!(
                    before.route.access, served.route.access,
                    "{:?}",
                    served.route
                );
            }
        }
        assert!(table.first().is_some_and(|e| e.handler.is_some()));
    }
}
