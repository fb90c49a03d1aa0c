//! One module through oxc: parse, check, strip TypeScript, resolve import
//! specifiers, rewrite ES module syntax to registry calls, print.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use oxc::allocator::Allocator;
use oxc::ast::ast::{
    AccessorProperty, Decorator, ExportAllDeclaration, ExportFromDeclaration, Expression,
    ImportDeclaration, ImportExpression, JSXElement, JSXFragment, StringLiteral,
    TSImportEqualsDeclaration, TSModuleReference,
};
use oxc::ast_visit::{Visit, VisitMut, walk, walk_mut};
use oxc::codegen::{Codegen, CodegenOptions, CommentOptions};
use oxc::diagnostics::OxcDiagnostic;
use oxc::parser::{ParseOptions, Parser};
use oxc::semantic::SemanticBuilder;
use oxc::span::{GetSpan, SourceType};
use oxc::str::Str;
use oxc::transformer::{TransformOptions, Transformer};
use oxc::transformer_plugins::ModuleRunnerTransform;

use super::CompileError;
use super::resolve::{URL_PREFIX, display_name, resolve};

/// What the compiler knows about the module being compiled.
pub struct ModuleContext<'m> {
    /// The name as the bundle spells it, for error messages.
    pub name: &'m str,
    /// Canonical name (see `resolve`).
    pub canonical: &'m str,
    /// Canonical names of every module of the bundle.
    pub modules: &'m BTreeSet<String>,
}

/// How a module's source is parsed, from its name.
#[derive(Debug, Clone, Copy)]
pub struct Language {
    pub typescript: bool,
    pub jsx: bool,
}

impl Language {
    pub fn of(canonical: &str) -> Self {
        let ends = |exts: &[&str]| exts.iter().any(|e| canonical.ends_with(e));
        Language {
            typescript: ends(&[".ts", ".mts", ".cts", ".tsx"]),
            jsx: ends(&[".jsx", ".tsx"]),
        }
    }
}

/// The module's body, as statements for the body of an async function whose
/// parameters are the `__vite_ssr_*` names (see `runtime.js`).
pub fn compile_module(cx: &ModuleContext<'_>, source: &str) -> Result<String, CompileError> {
    let lang = Language::of(cx.canonical);
    let error_at = |offset: Option<u32>, message: String| {
        let (line, column) = offset.map_or((0, 0), |o| line_column(source, o));
        CompileError {
            module: cx.name.to_owned(),
            line,
            column,
            message,
            unresolved: None,
        }
    };
    let from_diagnostic = |d: &OxcDiagnostic| {
        let offset = d
            .labels
            .iter()
            .find(|l| l.primary())
            .or_else(|| d.labels.last())
            .map(oxc::span::LabeledSpan::offset);
        let mut message = d.message.to_string();
        if let Some(help) = &d.help {
            let _ = write!(message, " ({help})");
        }
        error_at(offset, message)
    };

    let allocator = Allocator::default();
    let source_type = if lang.typescript {
        SourceType::ts().with_module(true)
    } else {
        SourceType::mjs()
    }
    .with_jsx(lang.jsx);
    let options = ParseOptions {
        parse_regular_expression: true,
        ..ParseOptions::default()
    };
    let parsed = Parser::new(&allocator, source, source_type)
        .with_options(options)
        .parse();
    if let Some(d) = parsed.diagnostics.errors().next() {
        return Err(from_diagnostic(d));
    }
    let mut program = parsed.program;

    let mut unsupported = Unsupported::default();
    unsupported.visit_program(&program);
    if let Some((offset, message)) = unsupported.first {
        return Err(error_at(Some(offset), message.to_owned()));
    }

    let semantic = SemanticBuilder::new()
        .with_check_syntax_error(true)
        .with_enum_eval(true)
        .build(&program);
    if let Some(d) = semantic.diagnostics.errors().next() {
        return Err(from_diagnostic(d));
    }
    let mut scoping = semantic.semantic.into_scoping();

    if lang.typescript {
        let options = TransformOptions::default();
        let stripped = Transformer::new(&allocator, Path::new(cx.canonical), &options)
            .build_with_scoping(scoping, &mut program);
        if let Some(d) = stripped.diagnostics.errors().next() {
            return Err(from_diagnostic(d));
        }
        scoping = stripped.scoping;
    }

    // After type stripping, so type-only imports never need to resolve.
    let mut rewriter = SpecifierRewriter {
        allocator: &allocator,
        cx,
        first_unresolved: None,
    };
    rewriter.visit_program(&mut program);
    if let Some((offset, specifier)) = rewriter.first_unresolved {
        let message = unresolved_message(cx, &specifier);
        return Err(CompileError {
            unresolved: Some(specifier),
            ..error_at(Some(offset), message)
        });
    }

    ModuleRunnerTransform::new().transform(&allocator, &mut program, scoping);

    program.hashbang = None;
    let printed = Codegen::new()
        .with_options(CodegenOptions {
            comments: CommentOptions::disabled(),
            ..CodegenOptions::default()
        })
        .build(&program);
    Ok(printed.code)
}

/// 1-based line and column (in characters) of byte `offset` in `source`.
pub fn line_column(source: &str, offset: u32) -> (u32, u32) {
    let mut end = (offset as usize).min(source.len());
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    let (mut line, mut column) = (1u32, 1u32);
    let mut chars = source[..end].chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' | '\n' | '\u{2028}' | '\u{2029}' => {
                line += 1;
                column = 1;
            }
            _ => column += 1,
        }
    }
    (line, column)
}

fn unresolved_message(cx: &ModuleContext<'_>, specifier: &str) -> String {
    const SHOWN: usize = 20;
    let why = if specifier.starts_with("node:") {
        "Node.js built-in modules are not available"
    } else if specifier.contains("://") || specifier.starts_with("data:") {
        "modules cannot be loaded from URLs"
    } else if specifier.starts_with("./")
        || specifier.starts_with("../")
        || specifier.starts_with('/')
        || specifier == "."
        || specifier == ".."
    {
        "no module of the bundle has that path"
    } else {
        "packages are not installed: bundle their code as modules of the Worker and import them by relative path"
    };
    let mut list = cx
        .modules
        .iter()
        .take(SHOWN)
        .map(|m| display_name(m))
        .collect::<Vec<_>>()
        .join(", ");
    if cx.modules.len() > SHOWN {
        let _ = write!(list, ", ... ({} more)", cx.modules.len() - SHOWN);
    }
    format!(
        "cannot import \"{specifier}\" from \"{}\": {why}; only the bundle's own modules can be \
         imported (modules in this bundle: {list})",
        cx.name
    )
}

/// Rewrites every static specifier to the `bundle:///<name>` URL of the module it
/// resolves to; remembers the first (in source order) that resolves to nothing.
struct SpecifierRewriter<'a, 'm> {
    allocator: &'a Allocator,
    cx: &'m ModuleContext<'m>,
    first_unresolved: Option<(u32, String)>,
}

impl<'a> SpecifierRewriter<'a, '_> {
    fn rewrite(&mut self, literal: &mut StringLiteral<'a>) {
        if let Some(name) = resolve(literal.value.as_str(), self.cx.canonical, self.cx.modules) {
            literal.value = Str::from_str_in(&format!("{URL_PREFIX}{name}"), &self.allocator);
            literal.raw = None;
            literal.lone_surrogates = false;
        } else {
            let offset = literal.span.start;
            if self
                .first_unresolved
                .as_ref()
                .is_none_or(|(o, _)| offset < *o)
            {
                self.first_unresolved = Some((offset, literal.value.as_str().to_owned()));
            }
        }
    }
}

impl<'a> VisitMut<'a> for SpecifierRewriter<'a, '_> {
    fn visit_import_declaration(&mut self, it: &mut ImportDeclaration<'a>) {
        self.rewrite(&mut it.source);
    }

    fn visit_export_all_declaration(&mut self, it: &mut ExportAllDeclaration<'a>) {
        self.rewrite(&mut it.source);
    }

    fn visit_export_from_declaration(&mut self, it: &mut ExportFromDeclaration<'a>) {
        self.rewrite(&mut it.source);
    }

    fn visit_import_expression(&mut self, it: &mut ImportExpression<'a>) {
        if let Expression::StringLiteral(literal) = &mut it.source {
            self.rewrite(literal);
        }
        walk_mut::walk_import_expression(self, it);
    }
}

/// Syntax that parses but that this loader does not support.
#[derive(Default)]
struct Unsupported {
    first: Option<(u32, &'static str)>,
}

impl Unsupported {
    fn found(&mut self, offset: u32, message: &'static str) {
        if self.first.is_none_or(|(o, _)| offset < o) {
            self.first = Some((offset, message));
        }
    }
}

impl<'a> Visit<'a> for Unsupported {
    fn visit_jsx_element(&mut self, it: &JSXElement<'a>) {
        self.found(
            it.span().start,
            "JSX is not supported: Workers run plain JavaScript/TypeScript; build JSX to JavaScript first",
        );
    }

    fn visit_jsx_fragment(&mut self, it: &JSXFragment<'a>) {
        self.found(
            it.span().start,
            "JSX is not supported: Workers run plain JavaScript/TypeScript; build JSX to JavaScript first",
        );
    }

    fn visit_ts_import_equals_declaration(&mut self, it: &TSImportEqualsDeclaration<'a>) {
        if matches!(
            it.module_reference,
            TSModuleReference::ExternalModuleReference(_)
        ) && it.import_kind.is_value()
        {
            self.found(
                it.span.start,
                "`import x = require(...)` is not supported (there is no CommonJS `require`); use an ES `import`",
            );
        }
        walk::walk_ts_import_equals_declaration(self, it);
    }

    fn visit_decorator(&mut self, it: &Decorator<'a>) {
        self.found(
            it.span.start,
            "decorators are not supported (V8 does not implement them yet); remove them or build the code with a bundler first",
        );
        walk::walk_decorator(self, it);
    }

    fn visit_accessor_property(&mut self, it: &AccessorProperty<'a>) {
        self.found(
            it.span.start,
            "`accessor` class fields are not supported (V8 does not implement them yet)",
        );
        walk::walk_accessor_property(self, it);
    }

    fn visit_import_declaration(&mut self, it: &ImportDeclaration<'a>) {
        if it.phase.is_some() {
            self.found(
                it.span.start,
                "`import source`/`import defer` are not supported",
            );
        }
        walk::walk_import_declaration(self, it);
    }
}
