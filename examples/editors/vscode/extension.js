// A generic LSP client for `mgd lsp`. vscode-languageclient 9 maps the server's
// inlineCompletionProvider (LSP 3.18) onto VS Code's inline suggestions (ghost text).
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

function activate(context) {
  const cfg = vscode.workspace.getConfiguration('mgd');
  const serverOptions = {
    command: cfg.get('command'),
    args: cfg.get('args'),
    transport: TransportKind.stdio,
  };
  const clientOptions = {
    documentSelector: [{ scheme: 'file', language: 'python' }],
    initializationOptions: cfg.get('initializationOptions'),
  };
  client = new LanguageClient('mgd', 'mgd', serverOptions, clientOptions);
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
