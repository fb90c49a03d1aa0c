//! One module through oxc: parse, check, strip TypeScript, resolve import
//! specifiers, rewrite ES module syntax to registry calls, print.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use oxc::allocator::Allocator;
use oxc::ast::ast::AccessorProperty;
use oxc::ast::ast::Decorator;
use oxc::ast::ast::ExportAllDeclaration;
use oxc::ast::ast::ExportFromDeclaration;
use oxc::ast::ast::Expression;
use oxc::ast::ast::ImportDeclaration;
use oxc::ast::ast::ImportExpression;
use oxc::ast::ast::Program;
use oxc::ast::ast::StringLiteral;
use oxc::ast::ast::TSImportEqualsDeclaration;
use oxc::ast::ast::TSModuleReference;
use oxc::ast_visit::Visit;
use oxc::ast_visit::VisitMut;
use oxc::ast_visit::walk;
use oxc::ast_visit::walk_mut;
use oxc::codegen::Codegen;
use oxc::codegen::CodegenOptions;
use oxc::codegen::CommentOptions;
use oxc::diagnostics::OxcDiagnostic;
use oxc::parser::ParseOptions;
use oxc::parser::Parser;
use oxc::semantic::SemanticBuilder;
use oxc::span::SourceType;
use oxc::str::Str;
use oxc::transformer::TransformOptions;
use oxc::transformer::Transformer;
use oxc::transformer_plugins::ModuleRunnerTransform;

use super::CompileError;
use super::nesting;
use super::resolve::URL_PREFIX;
use super::resolve::display_name;
use super::resolve::resolve;

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
///
/// Nothing recursive runs before [`nesting::check`] has bounded how deeply
/// the source nests; the caller runs this on a thread whose stack holds that
/// bound (`COMPILE_STACK_BYTES`).
pub fn compile_module(cx: &ModuleContext<'_>, source: &str) -> Result<String, CompileError> {
    let lang = Language::of(cx.canonical);
    let errors = Errors { cx, source };
    nesting::check(source, lang.typescript)
        .map_err(|e| errors.at(Some(e.offset()), e.message()))?;

    let allocator = Allocator::default();
    let mut program = parse(&allocator, source, lang, &errors)?;
    let mut unsupported = Unsupported::default();
    unsupported.visit_program(&program);
    if let Some((offset, message)) = unsupported.first {
        return Err(errors.at(Some(offset), message.to_owned()));
    }

    let semantic = SemanticBuilder::new()
        .with_check_syntax_error(true)
        .with_enum_eval(true)
        .build(&program);
    if let Some(d) = semantic.diagnostics.errors().next() {
        return Err(errors.diagnostic(d));
    }
    let mut scoping = semantic.semantic.into_scoping();
    if lang.typescript {
        let options = TransformOptions::default();
        let stripped = Transformer::new(&allocator, Path::new(cx.canonical), &options)
            .build_with_scoping(scoping, &mut program);
        if let Some(d) = stripped.diagnostics.errors().next() {
            return Err(errors.diagnostic(d));
        }
        scoping = stripped.scoping;
    }

    // After type stripping, so type-only imports never need to resolve.
    rewrite_specifiers(&allocator, cx, &mut program, &errors)?;
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

/// Parses a module. JSX is never parsed (the loader does not support it), so
/// `.jsx`/`.tsx` modules are read as JS/TS, and a syntax error in one says so.
fn parse<'a>(
    allocator: &'a Allocator,
    source: &'a str,
    lang: Language,
    errors: &Errors<'_>,
) -> Result<Program<'a>, CompileError> {
    let source_type = if lang.typescript {
        SourceType::ts().with_module(true)
    } else {
        SourceType::mjs()
    };
    let options = ParseOptions {
        parse_regular_expression: true,
        ..ParseOptions::default()
    };
    let parsed = Parser::new(allocator, source, source_type)
        .with_options(options)
        .parse();
    match parsed.diagnostics.errors().next() {
        Some(d) if lang.jsx => {
            let mut error = errors.diagnostic(d);
            let _ = write!(error.message, " ({JSX_UNSUPPORTED})");
            Err(error)
        }
        Some(d) => Err(errors.diagnostic(d)),
        None => Ok(parsed.program),
    }
}

/// Points every static import at the module it names; the first that names
/// no module of the bundle is the error.
fn rewrite_specifiers<'a>(
    allocator: &'a Allocator,
    cx: &ModuleContext<'_>,
    program: &mut Program<'a>,
    errors: &Errors<'_>,
) -> Result<(), CompileError> {
    let mut rewriter = SpecifierRewriter {
        allocator,
        cx,
        first_unresolved: None,
    };
    rewriter.visit_program(program);
    match rewriter.first_unresolved {
        Some((offset, specifier)) => {
            let message = unresolved_message(cx, &specifier);
            Err(CompileError {
                unresolved: Some(specifier),
                ..errors.at(Some(offset), message)
            })
        }
        None => Ok(()),
    }
}

const JSX_UNSUPPORTED: &str =
    "JSX is not supported: Workers run plain JavaScript/TypeScript; build JSX to JavaScript first";

/// Builds the errors of one module, with positions in its original source.
struct Errors<'e> {
    cx: &'e ModuleContext<'e>,
    source: &'e str,
}

impl Errors<'_> {
    /// An error at byte `offset` of the source (none: about the module).
    fn at(&self, offset: Option<u32>, message: String) -> CompileError {
        let (line, column) = offset.map_or((0, 0), |o| line_column(self.source, o));
        CompileError {
            module: self.cx.name.to_owned(),
            line,
            column,
            message,
            unresolved: None,
        }
    }

    /// An error from oxc, at its primary label, with its help.
    fn diagnostic(&self, d: &OxcDiagnostic) -> CompileError {
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
        self.at(offset, message)
    }
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
