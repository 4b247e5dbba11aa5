/**
 * The public API as one text: for each package entry, every exported name with its kind and
 * its declaration as the built `.d.ts` files give it (comments removed). A test compares it with
 * test/api/public-api.txt, so every change of the API shows in review as a diff of that file;
 * `npm run -s api:report` rewrites it.
 */
import { writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

export const API_REPORT_FILE = join(root, 'test/api/public-api.txt')

/** The package's entries (package.json `exports`) and their sources. */
const ENTRIES: ReadonlyArray<readonly [string, string]> = [
  ['pg-strata', 'src/index.ts'],
  ['pg-strata/testing', 'src/testing/index.ts'],
  ['pg-strata/dev', 'src/local-database/index.ts'],
]

export function apiReport(): string {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, 'tsconfig.build.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined },
  )
  if (config === undefined) throw new Error('cannot read tsconfig.build.json')
  const options: ts.CompilerOptions = {
    ...config.options,
    emitDeclarationOnly: true,
    declarationMap: false,
    sourceMap: false,
    noEmit: false,
  }
  const program = ts.createProgram(config.fileNames, options)
  // The declarations as the build emits them (stripInternal applied), kept in memory.
  const emitted = new Map<string, ts.SourceFile>()
  program.emit(undefined, (fileName, text) => {
    if (fileName.endsWith('.d.ts')) {
      const source = join(root, 'src', relative(options.outDir!, fileName)).replace(
        /\.d\.ts$/,
        '.ts',
      )
      emitted.set(source, ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true))
    }
  })
  const checker = program.getTypeChecker()
  const printer = ts.createPrinter({ removeComments: true })
  const sections: string[] = []
  for (const [entry, path] of ENTRIES) {
    const file = program.getSourceFile(join(root, path))
    const moduleSymbol = file && checker.getSymbolAtLocation(file)
    if (moduleSymbol === undefined) throw new Error(`no module for ${path}`)
    const lines = [`# ${entry}`, '']
    const exports = checker.getExportsOfModule(moduleSymbol)
    for (const exported of [...exports].sort((a, b) => a.name.localeCompare(b.name))) {
      const symbol =
        exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported
      const declarations = symbol.declarations ?? []
      const kinds = [...new Set(declarations.map(kindOf))].join(', ')
      lines.push(`## ${exported.name} (${kinds})`)
      for (const declaration of declarations) {
        const printed = printDeclaration(declaration, emitted, printer)
        if (printed !== undefined) lines.push(printed)
      }
      lines.push('')
    }
    sections.push(lines.join('\n'))
  }
  return `${sections.join('\n').trimEnd()}\n`
}

function kindOf(declaration: ts.Declaration): string {
  if (ts.isFunctionDeclaration(declaration)) return 'function'
  if (ts.isClassDeclaration(declaration)) return 'class'
  if (ts.isInterfaceDeclaration(declaration)) return 'interface'
  if (ts.isTypeAliasDeclaration(declaration)) return 'type'
  if (ts.isVariableDeclaration(declaration)) return 'const'
  if (ts.isEnumDeclaration(declaration)) return 'enum'
  return ts.SyntaxKind[declaration.kind]
}

/** The declaration's counterpart in the emitted `.d.ts` of its file, printed without comments. */
function printDeclaration(
  declaration: ts.Declaration,
  emitted: Map<string, ts.SourceFile>,
  printer: ts.Printer,
): string | undefined {
  const source = declaration.getSourceFile()
  const dts = emitted.get(source.fileName)
  const name = ts.getNameOfDeclaration(declaration)?.getText(source)
  if (dts === undefined || name === undefined) return undefined
  const matches: string[] = []
  const visit = (node: ts.Node): void => {
    const statement = ts.isVariableStatement(node)
      ? node.declarationList.declarations.some((d) => d.name.getText(dts) === name)
      : (ts.isFunctionDeclaration(node) ||
          ts.isClassDeclaration(node) ||
          ts.isInterfaceDeclaration(node) ||
          ts.isTypeAliasDeclaration(node) ||
          ts.isEnumDeclaration(node)) &&
        node.name?.getText(dts) === name
    if (statement && kindOf(declaration) === kindOfStatement(node)) {
      matches.push(printer.printNode(ts.EmitHint.Unspecified, node, dts))
    }
  }
  dts.statements.forEach(visit)
  return matches.length === 0 ? undefined : [...new Set(matches)].join('\n')
}

function kindOfStatement(node: ts.Node): string {
  if (ts.isVariableStatement(node)) return 'const'
  return kindOf(node as ts.Declaration)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(API_REPORT_FILE, apiReport())
  console.log(`wrote ${relative(process.cwd(), API_REPORT_FILE)}`)
}
