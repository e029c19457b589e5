//! The console's page models and their askama templates (`templates/console/`): one layout,
//! one page of sections (properties, a table, forms, a chart), one message page. Everything is
//! escaped by askama except the charts, which [`super::chart`] builds from numbers and escaped
//! labels.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// The signed-in administrator, for the header.
#[derive(Clone, Debug)]
pub struct UserBar {
    /// Tenant display name.
    pub tenant_name: String,
    /// Display name.
    pub name: String,
    /// UPN.
    pub upn: String,
    /// Roles, comma-separated.
    pub roles: String,
    /// The session's CSRF token (the sign-out form).
    pub csrf: String,
}

/// A navigation entry.
#[derive(Clone, Debug)]
pub struct NavItem {
    /// Target.
    pub href: String,
    /// Text.
    pub label: String,
    /// The page being shown.
    pub current: bool,
}

/// What every page has.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// Page title (also the `h1`).
    pub title: String,
    /// The signed-in administrator (none on the sign-in and refusal pages).
    pub user: Option<UserBar>,
    /// Navigation (empty when signed out).
    pub nav: Vec<NavItem>,
    /// A one-time message.
    pub flash: Option<String>,
}

/// A table cell, optionally a link.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Text.
    pub text: String,
    /// Link target.
    pub href: Option<String>,
}

impl Cell {
    /// Plain text.
    pub fn text(t: impl Into<String>) -> Self {
        Self {
            text: t.into(),
            href: None,
        }
    }
    /// A link.
    pub fn link(t: impl Into<String>, href: impl Into<String>) -> Self {
        Self {
            text: t.into(),
            href: Some(href.into()),
        }
    }
}

/// A table with a caption.
#[derive(Clone, Debug)]
pub struct Table {
    /// Unique id on the page.
    pub id: String,
    /// Caption.
    pub caption: String,
    /// Column headers.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Cell>>,
    /// Shown when there are no rows.
    pub empty: String,
}

impl Table {
    /// A table.
    pub fn new(id: &str, caption: &str, columns: &[&str], empty: &str) -> Self {
        Self {
            id: id.into(),
            caption: caption.into(),
            columns: columns.iter().map(|c| (*c).to_string()).collect(),
            rows: vec![],
            empty: empty.into(),
        }
    }
}

/// A form field.
#[derive(Clone, Debug)]
pub struct Field {
    /// Name.
    pub name: String,
    /// Visible label.
    pub label: String,
    /// `text`, `email`, `password`, `checkbox`, `select`, `hidden`.
    pub kind: String,
    /// Current value (`"true"` checks a checkbox).
    pub value: String,
    /// Required.
    pub required: bool,
    /// `(value, text)` for selects.
    pub options: Vec<(String, String)>,
}

impl Field {
    /// A field.
    pub fn new(kind: &str, name: &str, label: &str) -> Self {
        Self {
            name: name.into(),
            label: label.into(),
            kind: kind.into(),
            value: String::new(),
            required: false,
            options: vec![],
        }
    }
    /// Required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// With a value.
    pub fn value(mut self, v: impl Into<String>) -> Self {
        self.value = v.into();
        self
    }
    /// A select's options.
    pub fn options(mut self, o: Vec<(String, String)>) -> Self {
        self.options = o;
        self
    }
}

/// A form (POST forms carry the session's CSRF token).
#[derive(Clone, Debug)]
pub struct Form {
    /// Unique id on the page.
    pub id: String,
    /// Target.
    pub action: String,
    /// `post` or `get`.
    pub method: String,
    /// Heading.
    pub title: String,
    /// A hint under the heading.
    pub hint: Option<String>,
    /// The button text.
    pub submit: String,
    /// Fields.
    pub fields: Vec<Field>,
    /// A destructive action.
    pub danger: bool,
    /// The CSRF token.
    pub csrf: String,
}

impl Form {
    /// A POST form.
    pub fn post(
        id: &str,
        action: impl Into<String>,
        title: &str,
        submit: &str,
        csrf: &str,
    ) -> Self {
        Self {
            id: id.into(),
            action: action.into(),
            method: "post".into(),
            title: title.into(),
            hint: None,
            submit: submit.into(),
            fields: vec![],
            danger: false,
            csrf: csrf.into(),
        }
    }
    /// A GET (search) form.
    pub fn get(action: impl Into<String>, submit: &str, fields: Vec<Field>) -> Self {
        Self {
            id: "search".into(),
            action: action.into(),
            method: "get".into(),
            title: String::new(),
            hint: None,
            submit: submit.into(),
            fields,
            danger: false,
            csrf: String::new(),
        }
    }
    /// With fields.
    pub fn fields(mut self, f: Vec<Field>) -> Self {
        self.fields = f;
        self
    }
    /// With a hint.
    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }
    /// Destructive.
    pub fn danger(mut self) -> Self {
        self.danger = true;
        self
    }
}

/// A section of a page.
#[derive(Clone, Debug, Default)]
pub struct Section {
    /// Heading id.
    pub id: String,
    /// Heading.
    pub title: String,
    /// A note under the heading.
    pub note: Option<String>,
    /// Properties.
    pub props: Vec<(String, String)>,
    /// A chart (SVG markup from [`super::chart`]).
    pub svg: Option<String>,
    /// A table.
    pub table: Option<Table>,
    /// The next page of the table.
    pub next: Option<String>,
    /// Forms.
    pub forms: Vec<Form>,
}

impl Section {
    /// A section.
    pub fn new(id: &str, title: &str) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            ..Self::default()
        }
    }
}

/// A page of sections.
#[derive(Template)]
#[template(path = "console/page.html")]
pub struct Page {
    /// Layout.
    pub l: Layout,
    /// A search form above the sections.
    pub search: Option<Form>,
    /// Sections.
    pub sections: Vec<Section>,
}

/// A message page (refusals, errors, signed out).
#[derive(Template)]
#[template(path = "console/message.html")]
pub struct Message {
    /// Layout.
    pub l: Layout,
    /// `error` or `info`.
    pub kind: String,
    /// The message.
    pub text: String,
    /// More detail (a correlation id).
    pub detail: Option<String>,
    /// A link `(href, text)`.
    pub link: Option<(String, String)>,
    /// Forms (the tenant picker).
    pub forms: Vec<Form>,
}

/// Renders a template with a status.
pub fn render(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("The console could not render this page: {e}"),
        )
            .into_response(),
    }
}
