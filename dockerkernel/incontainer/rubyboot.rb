# Ruby cell boot: started by `runner.py --warm ruby rubyboot.rb` while the container waits in
# the pool, then runs one cell the way IRuby does:
#
# * the cell is evaluated at the top level (TOPLEVEL_BINDING: `def` makes private methods of
#   Object, `self` is main); output is not buffered ($stdout.sync);
# * the value of the last expression is shown with `inspect` as execute_result, unless it is nil
#   or the cell ends with `;`;
# * an uncaught exception becomes ONE error frame (class, message, backtrace), nothing on stderr;
# * state (header "state": true): global variables, top-level local variables, instance
#   variables of main and constants are restored before the cell and saved after it
#   (/workspace/.dockerkernel/ruby-state.bin) with Marshal; methods, classes and modules defined
#   at the top level of a cell are carried by their source (sliced with RubyVM::AbstractSyntaxTree
#   node positions) and defined again, in order; libraries by `require`. What cannot be carried
#   (a Proc, an IO, a Thread, ...) is named once on stderr. A cell killed by a limit (SIGKILL)
#   never reaches the save.
#
# Protocol: dockerkernel/protocol.py (header line, then the source, on stdin). Everything of
# the boot lives in this module: the top level keeps no local variable of its own.
require "json"

module DockerKernelBoot
  STATE_DIR = "/workspace/.dockerkernel"
  STATE_FILE = File.join(STATE_DIR, "ruby-state.bin")
  PREVIOUS_FILE = File.join(STATE_DIR, "ruby-state.previous.bin") # the one before, see DK_STATE_DISCARD
  SKIPPED_FILE = File.join(STATE_DIR, "ruby-skipped.json")
  MAX_STATE = 256 << 20 # a state file larger than this is not read (bytes)
  CELL = "/tmp/dk/cell.rb"
  # definitions carried by their source: top-level node types and the calls that change Object
  DEFINITION_NODES = %i[DEFN DEFS CLASS MODULE SCLASS ALIAS VALIAS].freeze
  DEFINING_CALLS = %i[include extend prepend using define_method alias_method attr_accessor attr_reader
                      attr_writer private public protected module_function private_constant].freeze

  class << self
    attr_accessor :transfer # a value on its way into a global variable

    def main
      $stdout.sync = true
      $stderr.sync = true
      fresh_globals = global_variables
      fresh_constants = Object.constants
      fresh_methods = Object.private_instance_methods(false) + Object.public_instance_methods(false)
      fresh_features = $LOADED_FEATURES.dup
      # the runner's done pipe is not used: at_exit handlers of the cell may still print
      ENV.delete("DK_DONE_FD")
      header, source = read_cell
      (header["env"] || {}).each { |k, v| ENV[k.to_s] = v.to_s }
      ENV["DK_NONCE"] = @nonce = header["nonce"].to_s
      count = header["execution_count"].to_i
      label = "Cell In[#{count}]"
      keep = header["state"] != false
      @count = count
      # cells ended by a limit (the kernel's list): a state one of them saved is not restored
      @discard = (header["env"] || {})["DK_STATE_DISCARD"].to_s.split(",").map(&:to_i)
      Dir.mkdir("/tmp/dk") unless File.directory?("/tmp/dk")
      File.binwrite(CELL, source)
      $0 = CELL
      @skipped = {}
      @fresh = { globals: fresh_globals, constants: fresh_constants, methods: fresh_methods, features: fresh_features }
      definitions = top_level_definitions(source, label)
      state = keep ? restore_state(definitions) : { "defs" => [] }
      status = 0
      begin
        result = TOPLEVEL_BINDING.eval(source, CELL, 1)
        show_result(result) unless result.nil? || source.rstrip.end_with?(";")
      rescue SystemExit => e
        status = e.status
      rescue Exception => e # rubocop:disable Lint/RescueException -- the cell's failure is data, not the boot's
        report_exception(e, label)
        status = 1
      end
      if keep
        begin
          save_state(state, definitions)
        rescue Exception => e # rubocop:disable Lint/RescueException
          $stderr.write("dockerkernel: the variables could not be saved for the next cell (#{e.class}: #{e.message})\n")
        end
      end
      exit(status)
    end

    def read_cell
      $stdin.binmode
      line = $stdin.gets
      exit!(0) unless line&.end_with?("\n") # the kernel went away before sending a cell
      header = JSON.parse(line)
      source = ($stdin.read(header["size"].to_i) || "").force_encoding(Encoding::UTF_8)
      source = source.scrub("\uFFFD") unless source.valid_encoding?
      # the cell's stdin: a terminal the runner watches when the frontend can answer, else its
      # pipe (a %stdin file, or end of file)
      pipe, tty = ENV.delete("DK_STDIN_FD"), ENV.delete("DK_STDIN_TTY")
      use, other = header["stdin"] && !header["stdin_file"] ? [tty, pipe] : [pipe, tty]
      IO.for_fd(other.to_i).close if other&.match?(/\A\d+\z/)
      if use&.match?(/\A\d+\z/)
        $stdin.reopen(IO.for_fd(use.to_i, autoclose: true))
        $stdin.set_encoding(Encoding::UTF_8)
      end
      [header, source]
    end

    def send_frame(kind, payload)
      body = JSON.generate(payload)
      STDOUT.write("\eDK #{@nonce} #{kind} #{body.bytesize}\n", body)
      STDOUT.flush
    end

    def show_result(value)
      text = value.inspect
      send_frame("result", { "data" => { "text/plain" => text.to_s.encode("UTF-8", invalid: :replace, undef: :replace) }, "metadata" => {} })
    rescue Exception => e # rubocop:disable Lint/RescueException -- a broken #inspect is the cell's business
      $stderr.write("dockerkernel: the value could not be shown (#{e.class}: #{e.message})\n")
    end

    def report_exception(exc, label)
      fix = ->(text) { text.to_s.gsub(CELL, label) }
      lines = (exc.backtrace || []).reject { |l| l.include?("/opt/dockerkernel/") || l.start_with?("<internal:") }
      lines = lines.map(&fix)
      message = fix.call(exc.message)
      first = lines.empty? ? "#{message} (#{exc.class})" : "#{lines.first}: #{message} (#{exc.class})"
      traceback = [first] + lines.drop(1).map { |l| "\tfrom #{l}" }
      send_frame("error", { "ename" => exc.class.name || exc.class.to_s, "evalue" => message,
                            "traceback" => traceback.flat_map { |l| l.split("\n") } })
    end

    # -- definitions ----------------------------------------------------------------------------
    # [[key, source, label, line], ...] of the cell's top-level definitions, in order
    def top_level_definitions(source, label)
      root = RubyVM::AbstractSyntaxTree.parse(source)
      body = root.children[2]
      nodes = body.nil? ? [] : (body.type == :BLOCK ? body.children : [body])
      lines = source.lines
      nodes.filter_map do |node|
        key = definition_key(node)
        key && [key, slice(lines, node), label, node.first_lineno]
      end
    rescue SyntaxError, StandardError
      [] # the cell's own evaluation reports the syntax error
    end

    def definition_key(node)
      kids = node.children
      case node.type
      when :DEFN then "def:#{kids[0]}"
      when :DEFS then "defs:#{kids[1]}"
      when :CLASS, :MODULE then "#{node.type.downcase}:#{const_path(kids[0])}"
      when :ALIAS, :VALIAS then "#{node.type.downcase}:#{alias_names(kids).join(',')}"
      when :SCLASS then "sclass:#{node.first_lineno}:#{kids.map(&:to_s).join(',')}"
      when :CDECL then "const:#{kids[0]}" # kept only when its value is a class or module (see save_state)
      when :FCALL, :VCALL then DEFINING_CALLS.include?(kids[0]) ? "call:#{kids[0]}" : nil
      end
    end

    def alias_names(kids)
      # `alias new old`: LIT nodes holding symbols (Ruby 3.1), or the symbols themselves
      kids.map { |k| k.is_a?(RubyVM::AbstractSyntaxTree::Node) ? k.children.first.to_s : k.to_s }
    end

    def const_path(node)
      return node.to_s unless node.is_a?(RubyVM::AbstractSyntaxTree::Node)

      node.children.map { |c| c.is_a?(RubyVM::AbstractSyntaxTree::Node) ? const_path(c) : c.to_s }.reject(&:empty?).join("::")
    end

    def slice(lines, node)
      first = node.first_lineno - 1
      last = node.last_lineno - 1
      return lines[first].byteslice(node.first_column...node.last_column) if first == last

      head = lines[first].byteslice(node.first_column..)
      middle = lines[(first + 1)...last].join
      tail = lines[last].byteslice(0...node.last_column)
      head + middle + tail
    end

    # -- state ----------------------------------------------------------------------------------
    def read_regular(path, limit)
      # the workspace belongs to the cells: never follow a link, never block, never read unbounded
      File.open(path, File::RDONLY | File::NOFOLLOW | File::NONBLOCK) do |f|
        info = f.stat
        return nil unless info.file? && info.size <= limit

        f.binmode
        f.read
      end
    rescue SystemCallError, IOError
      nil
    end

    def replace_file(path, data)
      Dir.mkdir(STATE_DIR) unless File.directory?(STATE_DIR)
      tmp = "#{path}.#{Random.new_seed.to_s(16)[0, 16]}.tmp"
      begin
        File.open(tmp, File::WRONLY | File::CREAT | File::EXCL | File::NOFOLLOW | File::BINARY, 0o600) { |f| f.write(data) }
        File.rename(tmp, path)
      rescue Exception # rubocop:disable Lint/RescueException
        File.unlink(tmp) rescue nil
        raise
      end
    end

    def read_state(path)
      blob = read_regular(path, MAX_STATE)
      state = blob && Marshal.load(blob)
      state.is_a?(Hash) && state["defs"].is_a?(Array) ? state : nil
    end

    def restore_state(definitions)
      state = read_state(STATE_FILE)
      @rotate = !state.nil? && !@discard.include?(state["cell"])
      if state.nil? || @discard.include?(state["cell"])
        state = read_state(PREVIOUS_FILE) # also when a save was killed between its two renames
        state = nil if state && @discard.include?(state["cell"])
      end
      return { "defs" => [] } unless state

      (state["features"] || []).each do |feature|
        require feature
      rescue LoadError, StandardError => e
        @skipped["require #{feature}"] = "could not be required again (#{e.class})"
      end
      state["defs"].each do |key, text, label, line|
        TOPLEVEL_BINDING.eval(text.to_s, label.to_s, line.to_i)
      rescue Exception => e # rubocop:disable Lint/RescueException -- one broken definition must not stop the others
        @skipped[key.to_s] = "could not be defined again (#{e.class}: #{e.message.lines.first.to_s.strip})"
      end
      values = Marshal.load(state["values"] || Marshal.dump({}))
      assigned = definitions.map(&:first)
      (values[:globals] || {}).each do |name, value|
        next unless name.to_s.match?(/\A\$[A-Za-z_]\w*\z/)

        self.transfer = value
        TOPLEVEL_BINDING.eval("#{name} = DockerKernelBoot.transfer")
      end
      self.transfer = nil
      (values[:locals] || {}).each { |name, value| TOPLEVEL_BINDING.local_variable_set(name, value) }
      (values[:ivars] || {}).each { |name, value| TOPLEVEL_BINDING.receiver.instance_variable_set(name, value) }
      (values[:consts] || {}).each do |name, value|
        next if assigned.include?("const:#{name}") # the cell assigns it again: no "already initialized" warning

        Object.const_set(name, value) unless Object.const_defined?(name, false)
      end
      state
    rescue Exception => e # rubocop:disable Lint/RescueException -- a broken state must not break the cell
      $stderr.write("dockerkernel: the previous cells' variables could not be restored (#{e.class}: #{e.message})\n")
      { "defs" => [] }
    end

    def save_state(previous, definitions)
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      main = TOPLEVEL_BINDING.receiver
      defs = (previous["defs"] || []).dup
      definitions.each do |definition|
        key = definition[0]
        next unless defined_now?(key)

        # a method, constant or alias defined again replaces the old source; class and module
        # bodies accumulate, as reopening does
        defs.reject! { |old| old[0] == key || old[0] == "body-of-#{key}" } unless key.start_with?("class:", "module:", "call:", "sclass:")
        if key.start_with?("alias:")
          # an alias names the body the old name had then: that body comes back first, so a
          # later redefinition of the old name (restored after it) does not change the alias
          body = defs.reverse.find { |old| old[0] == "def:#{key.split(',').last}" }
          defs << ["body-of-#{key}", *body.drop(1)] if body
        end
        defs << definition
      end
      keys = defs.map(&:first)
      values = { globals: {}, locals: {}, ivars: {}, consts: {} }
      (global_variables - @fresh[:globals]).each do |name|
        next if name.to_s.start_with?("$__dk")

        values[:globals][name] = TOPLEVEL_BINDING.eval(name.to_s)
      end
      TOPLEVEL_BINDING.local_variables.each { |name| values[:locals][name] = TOPLEVEL_BINDING.local_variable_get(name) }
      main.instance_variables.each { |name| values[:ivars][name] = main.instance_variable_get(name) }
      (Object.constants - @fresh[:constants]).each do |name|
        next if name == :DockerKernelBoot || Object.autoload?(name) || !Object.const_defined?(name, false)
        next unless from_cell?(Object.const_source_location(name)) # a library's: comes back by `require`

        value = Object.const_get(name)
        if value.is_a?(Module)
          unless keys.any? { |k| k == "const:#{name}" || k.end_with?(":#{name}") && k.start_with?("class:", "module:") }
            @skipped[name.to_s] = "#{value.class.name.downcase} not defined by a top-level `class`/`module`/constant statement of a cell"
          end
          next
        end
        values[:consts][name] = value
      end
      defs.reject! { |key, *| key.start_with?("const:") && !Object.const_get(key.sub("const:", ""), false).is_a?(Module) rescue true }
      ((Object.private_instance_methods(false) + Object.public_instance_methods(false)) - @fresh[:methods]).each do |name|
        next if keys.include?("def:#{name}") || keys.any? { |k| k.start_with?("call:", "alias:") }
        next unless from_cell?(Object.instance_method(name).source_location)

        @skipped["#{name}()"] = "method not defined by a top-level `def` of a cell"
      end
      blob_values = dump_values(values)
      features = ($LOADED_FEATURES - @fresh[:features]).select { |f| f.start_with?("/") && !f.start_with?("/tmp/") }
      blob = Marshal.dump({ "v" => 1, "cell" => @count, "features" => features, "defs" => defs, "values" => blob_values })
      if @rotate
        File.rename(STATE_FILE, PREVIOUS_FILE) rescue nil # killed right after: the restore takes the previous one
      end
      replace_file(STATE_FILE, blob)
      announce_skipped
      report_state(values, defs, features, blob.bytesize)
      took = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
      return unless took > 1

      $stderr.write(format("dockerkernel: saving this notebook's variables for the next cell took %.1f s (%d bytes); `%%state off` turns this off\n", took, blob.bytesize))
    end

    def from_cell?(location)
      file = location&.first.to_s
      file == CELL || file.start_with?("Cell In[")
    end

    def report_state(values, defs, features, size)
      # a `state` frame: what was carried, for the reply metadata and %state (protocol.py)
      kinds = values.transform_keys(&:to_s).transform_values(&:size)
      kinds["definitions"] = defs.size
      kinds["libraries"] = features.size
      send_frame("state", { "language" => "ruby", "carried" => { "count" => kinds.values.sum, "bytes" => size, **kinds },
                            "not_carried" => @skipped })
    end

    def defined_now?(key)
      kind, name = key.split(":", 2)
      case kind
      when "def" then Object.private_method_defined?(name) || Object.method_defined?(name)
      when "defs" then TOPLEVEL_BINDING.receiver.singleton_methods.include?(name.to_sym)
      when "class", "module", "const" then Object.const_defined?(name) rescue false
      else true
      end
    end

    def dump_values(values)
      Marshal.dump(values) # all at once keeps shared references shared
    rescue Exception # rubocop:disable Lint/RescueException
      values.each do |group, members|
        members.each_key.to_a.each do |name|
          Marshal.dump(members[name])
        rescue Exception => e # rubocop:disable Lint/RescueException
          @skipped[name.to_s] = "#{members[name].class} (#{e.message.lines.first.to_s.strip})"
          members.delete(name)
        end
        values[group] = members
      end
      Marshal.dump(values)
    end

    def announce_skipped
      return if @skipped.empty? && !File.symlink?(SKIPPED_FILE) && !File.exist?(SKIPPED_FILE)

      told = begin
        JSON.parse(read_regular(SKIPPED_FILE, 1 << 20) || "{}")
      rescue JSON::ParserError
        {}
      end
      told = {} unless told.is_a?(Hash)
      fresh = @skipped.reject { |name, why| told[name] == why }
      unless fresh.empty?
        $stderr.write("dockerkernel: not carried over to the next cell: #{fresh.sort.map { |n, w| "#{n}: #{w}" }.join(', ')}\n")
      end
      replace_file(SKIPPED_FILE, JSON.generate(@skipped))
    end
  end
end

DockerKernelBoot.main
