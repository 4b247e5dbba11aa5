import { subscriptionSuite, WAKE_UP_MODES } from './suite.js'

subscriptionSuite(WAKE_UP_MODES.polling)
