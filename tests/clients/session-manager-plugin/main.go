// The session-manager-plugin the AWS CLI runs for `aws ecs execute-command`, built from its
// source in the Go module proxy (github.com/aws/session-manager-plugin, Apache-2.0): the same
// program as its src/sessionmanagerplugin-main, whose package cannot be built from outside its
// repository's vendor directory (the repository has no go.mod). go.mod pins github.com/twinj/uuid
// to the 2015 API the plugin was written against (uuid.CleanHyphen), as its vendor directory does.
package main

import (
	"os"

	"github.com/aws/session-manager-plugin/src/sessionmanagerplugin/session"
	_ "github.com/aws/session-manager-plugin/src/sessionmanagerplugin/session/portsession"
	_ "github.com/aws/session-manager-plugin/src/sessionmanagerplugin/session/shellsession"
)

func main() {
	session.ValidateInputAndStartSession(os.Args, os.Stdout)
}
