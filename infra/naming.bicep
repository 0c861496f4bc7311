// Naming helpers shared by main.bicep and the infra tests (which import them into a small test template and
// evaluate them over many inputs with `bicep snapshot`).

@export()
@description('''Blob container for the Flex deployment package, derived from any function app name.
Storage container names must be 3-63 characters of lowercase letters, digits and single hyphens, starting and
ending with a letter or digit. Every character outside [a-z0-9] becomes a hyphen, the app-name part is cut to 32
characters, and runs of hyphens are collapsed (6 passes of "--" -> "-" shrink any run of up to 64 to one). The
result starts with "app-package-" and ends with 7 characters of uniqueString(), so it is 19-52 characters long.''')
func deploymentContainerName(appName string, seed string) string =>
  reduce(
    range(0, 6),
    'app-package-${take(join(map(range(0, length(appName)), i => contains('abcdefghijklmnopqrstuvwxyz0123456789', substring(toLower(appName), i, 1)) ? substring(toLower(appName), i, 1) : '-'), ''), 32)}-${take(uniqueString(appName, seed), 7)}',
    (name, _) => replace(name, '--', '-')
  )
