-- mgd lsp in Neovim 0.7-0.10 (vim.lsp.start_client; no vim.lsp.config yet). This is the client
-- setup tests/editor/test_nvim.py drives headless with Debian's Neovim 0.7.
-- Put it in ~/.config/nvim/init.lua (or :luafile it). `mgd` must be on PATH (the venv's bin) and
-- MGD_MODEL (or init_options.model) must name the model.
local function root_of(path)
  for _, marker in ipairs({ 'mgd.toml', 'pyproject.toml', 'setup.py', '.git' }) do
    local found = vim.fn.findfile(marker, vim.fn.fnamemodify(path, ':h') .. ';')
    if found == '' then found = vim.fn.finddir(marker, vim.fn.fnamemodify(path, ':h') .. ';') end
    if found ~= '' then return vim.fn.fnamemodify(found, ':p:h:h') end
  end
  return vim.fn.getcwd()
end

local client_id
vim.api.nvim_create_autocmd('FileType', {
  pattern = 'python',
  callback = function(args)
    -- get_client_by_id also sees a client still initializing (client_is_stopped does not, in 0.7).
    if not client_id or vim.lsp.get_client_by_id(client_id) == nil then
      client_id = vim.lsp.start_client({
        name = 'mgd',
        cmd = { 'mgd', 'lsp' },            -- add '--remote', 'https://host:8000' for mgd serve / vLLM
        root_dir = root_of(vim.api.nvim_buf_get_name(args.buf)),
        init_options = {                    -- any [editor] setting of mgd.toml (these win over it)
          server = 'jedi',                  -- the language server behind the monitors
          debounce_ms = 60,
          latency_budget_ms = 1500,
        },
        -- A remote engine's API key comes from the environment Neovim starts mgd in:
        -- MGD_REMOTE_API_KEY=... nvim
      })
    end
    vim.lsp.buf_attach_client(args.buf, client_id)
    -- Classic completion menu (textDocument/completion): <C-x><C-o> in insert mode.
    vim.bo[args.buf].omnifunc = 'v:lua.vim.lsp.omnifunc'
  end,
})
