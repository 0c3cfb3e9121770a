using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Text;

namespace PwshEngine;

/// <summary>
/// The subset of pwsh's command line that node-powershell, our scripts and a developer use, parsed the way
/// pwsh's CommandLineParameterParser does: switches are case-insensitive, may start with '-', '--' or '/',
/// may be abbreviated down to pwsh's shortest unambiguous prefix, and the first argument that is not a
/// switch starts -File. Everything after -Command text is joined into the command, like pwsh.
/// </summary>
internal sealed class CommandLine
{
    public bool ShowVersion { get; private set; }
    public bool ShowHelp { get; private set; }
    public bool NoLogo { get; private set; }
    public bool NoProfile { get; private set; }
    public bool NonInteractive { get; private set; }
    public bool NoExit { get; private set; }

    /// <summary>Command text from -Command/-EncodedCommand/-CommandWithArgs; null when reading stdin.</summary>
    public string? Command { get; private set; }

    /// <summary>-Command - : read commands from stdin without prompts.</summary>
    public bool CommandFromStdin { get; private set; }

    public string? File { get; private set; }

    /// <summary>Arguments for -File or -CommandWithArgs, already split into named and positional parameters.</summary>
    public List<CommandParameter> Arguments { get; } = new();

    public string? WorkingDirectory { get; private set; }

    /// <summary>Set when the command line is invalid; pwsh exits 64 in that case.</summary>
    public string? Error { get; private set; }

    /// <summary>pwsh shows its banner only for an interactive start without -NoLogo, -Command or -File.</summary>
    public bool ShowBanner => !NoLogo && Command is null && File is null && !CommandFromStdin;

    public static CommandLine Parse(string[] args)
    {
        var parsed = new CommandLine();
        parsed.ParseHelper(args);
        return parsed;
    }

    private void ParseHelper(string[] args)
    {
        bool noExitSeen = false;
        for (int i = 0; i < args.Length && Error is null; i++)
        {
            string raw = args[i].Trim();
            if (raw.Length == 0)
            {
                continue;
            }

            char first = raw[0];
            if (!IsDash(first) && first != '/')
            {
                ParseFile(args, i, noExitSeen);
                return;
            }

            string key = raw.Substring(1);
            if (key.Length > 0 && IsDash(first) && key[0] == first)
            {
                key = key.Substring(1);
            }

            if (Match(key, "version", "v"))
            {
                ShowVersion = true;
                return;
            }

            if (Match(key, "help", "h") || key == "?")
            {
                ShowHelp = true;
                return;
            }

            if (Match(key, "login", "l") || Match(key, "sta", "sta") || Match(key, "mta", "mta")
                || Match(key, "interactive", "i"))
            {
                // Accepted for compatibility; they change nothing for this host.
            }
            else if (Match(key, "noexit", "noe"))
            {
                NoExit = true;
                noExitSeen = true;
            }
            else if (Match(key, "noprofile", "nop"))
            {
                // This host never runs profile scripts; -NoProfile is accepted so callers can pass pwsh's flags.
                NoProfile = true;
            }
            else if (Match(key, "nologo", "nol"))
            {
                NoLogo = true;
            }
            else if (Match(key, "noninteractive", "noni"))
            {
                NonInteractive = true;
            }
            else if (Match(key, "commandwithargs", "commandwithargs") || Match(key, "cwa", "cwa"))
            {
                if (!TakeValue(args, ref i, "-CommandWithArgs", out string? text)) return;
                SetCommand(text);
                CollectArguments(args, i + 1);
                return;
            }
            else if (Match(key, "command", "c"))
            {
                ParseCommand(args, i, encoded: false);
                return;
            }
            else if (Match(key, "encodedcommand", "e") || Match(key, "ec", "e"))
            {
                ParseCommand(args, i, encoded: true);
                return;
            }
            else if (Match(key, "file", "f"))
            {
                ParseFile(args, i + 1, noExitSeen);
                return;
            }
            else if (Match(key, "executionpolicy", "ex") || Match(key, "ep", "ep"))
            {
                // Execution policy is always Unrestricted on Linux and macOS; the value is read and ignored.
                if (!TakeValue(args, ref i, "-ExecutionPolicy", out _)) return;
            }
            else if (Match(key, "outputformat", "o") || Match(key, "of", "o") || Match(key, "inputformat", "inp")
                     || Match(key, "if", "if"))
            {
                if (!TakeValue(args, ref i, "-" + key, out string? format)) return;
                if (!string.Equals(format, "Text", StringComparison.OrdinalIgnoreCase))
                {
                    Error = $"pwsh-engine supports only the Text format, not '{format}'.";
                }
            }
            else if (Match(key, "workingdirectory", "wo") || Match(key, "wd", "wd"))
            {
                if (!TakeValue(args, ref i, "-WorkingDirectory", out string? directory)) return;
                WorkingDirectory = directory;
            }
            else if (Match(key, "settingsfile", "settings") || Match(key, "configurationname", "config")
                     || Match(key, "configurationfile", "configurationfile") || Match(key, "custompipename", "cus")
                     || Match(key, "windowstyle", "w") || Match(key, "encodedarguments", "encodeda")
                     || Match(key, "ea", "ea") || Match(key, "servermode", "s") || Match(key, "socketservermode", "so")
                     || Match(key, "namedpipeservermode", "nam") || Match(key, "sshservermode", "sshs"))
            {
                Error = $"The pwsh parameter '{raw}' is not supported by pwsh-engine.";
            }
            else
            {
                // Like pwsh: the first argument that is not a known switch is the script file.
                ParseFile(args, i, noExitSeen);
                return;
            }
        }
    }

    private void ParseCommand(string[] args, int index, bool encoded)
    {
        int i = index + 1;
        if (i >= args.Length)
        {
            Error = "Missing the argument to -Command.";
            return;
        }

        if (encoded)
        {
            try
            {
                SetCommand(Encoding.Unicode.GetString(Convert.FromBase64String(args[i])));
            }
            catch (FormatException)
            {
                Error = "Cannot process the command because the value given to -EncodedCommand is not valid base64.";
            }

            return;
        }

        if (args[i] == "-")
        {
            if (i + 1 != args.Length)
            {
                Error = "Too many parameters for the -Command - option: nothing may follow '-'.";
                return;
            }

            CommandFromStdin = true;
            return;
        }

        // pwsh joins everything after -Command into one command line.
        SetCommand(string.Join(' ', args, i, args.Length - i));
    }

    private void SetCommand(string? text)
    {
        if (Command is not null)
        {
            Error = "Cannot process the command because -Command was given more than once.";
            return;
        }

        Command = text ?? string.Empty;
    }

    private void ParseFile(string[] args, int i, bool noExitSeen)
    {
        if (i >= args.Length)
        {
            Error = "Missing the argument to -File.";
            return;
        }

        if (args[i] == "-")
        {
            // pwsh: '-File -' reads commands from stdin (with prompts).
            CommandFromStdin = true;
            return;
        }

        string path;
        try
        {
            path = Path.GetFullPath(args[i].Replace('\\', '/'));
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            Error = $"Processing -File '{args[i]}' failed: {e.Message}";
            return;
        }

        if (!System.IO.File.Exists(path))
        {
            Error = $"The argument '{args[i]}' is not recognized as the name of a script file. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.";
            return;
        }

        File = path;
        if (!noExitSeen)
        {
            NoExit = false;
        }

        CollectArguments(args, i + 1);
    }

    /// <summary>
    /// pwsh's CollectPSArgs: '-Name' becomes a named parameter (bound to the next value by the engine unless it is
    /// a switch), '-Name:value' a named parameter with its value ('true'/'$false' become booleans), anything else
    /// a positional argument.
    /// </summary>
    private void CollectArguments(string[] args, int start)
    {
        string? pending = null;
        for (int i = start; i < args.Length; i++)
        {
            string arg = args[i];
            if (pending is not null)
            {
                Arguments.Add(new CommandParameter(pending, arg));
                pending = null;
            }
            else if (arg.Length > 1 && IsDash(arg[0]))
            {
                int colon = arg.IndexOf(':');
                if (colon < 0)
                {
                    Arguments.Add(new CommandParameter(arg));
                }
                else if (colon == arg.Length - 1)
                {
                    pending = arg.TrimEnd(':');
                }
                else
                {
                    Arguments.Add(new CommandParameter(arg.Substring(0, colon), ToBoolIfPossible(arg.Substring(colon + 1))));
                }
            }
            else
            {
                Arguments.Add(new CommandParameter(null, arg));
            }
        }
    }

    private static object ToBoolIfPossible(string value)
    {
        ReadOnlySpan<char> text = value.AsSpan(value.StartsWith('$') ? 1 : 0);
        return bool.TryParse(text, out bool result) ? result : value;
    }

    private bool TakeValue(string[] args, ref int i, string name, out string? value)
    {
        if (i + 1 >= args.Length)
        {
            Error = $"Missing the argument to {name}.";
            value = null;
            return false;
        }

        value = args[++i];
        return true;
    }

    /// <summary>pwsh's MatchSwitch: a prefix of the full name, at least as long as the shortest unambiguous one.</summary>
    private static bool Match(string key, string name, string shortest) =>
        key.Length >= shortest.Length && name.StartsWith(key, StringComparison.OrdinalIgnoreCase);

    /// <summary>pwsh accepts the en dash, em dash and horizontal bar as well as '-'.</summary>
    private static bool IsDash(char c) => c is '-' or '\u2013' or '\u2014' or '\u2015';

    public const string Usage = """
        Usage: pwsh-engine [-NoLogo] [-NoProfile] [-NonInteractive] [-NoExit] [-WorkingDirectory <dir>]
                           [-Command { - | <text> } | -EncodedCommand <base64> | -CommandWithArgs <text> [<args>]
                            | [-File] <path> [<args>]] [-Version] [-Help]

        The PowerShell engine (System.Management.Automation) in a small console host that accepts pwsh's
        command line. It serves the engine's core commands only (no Utility or Management modules) and runs
        no profile scripts.
        """;
}
